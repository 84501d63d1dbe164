/* Data-to-text task files (E2E CSV, WebNLG XML, DART JSON, JSON Lines) loaded as items: a
 * linearised prompt with its references.  The per-format rules are in include/spdf.h and
 * docs/evaluation.md; every defect of the input is an error that names the file and line. */
#include "core/core.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/text.h"
#include "io/xml.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define TRIPLE_SEPARATOR " && "

struct spdf_task_data {
    uint32_t tag; /* HANDLE_TASK_DATA (core/core.h), first */
    int64_t item_count;
    char **prompts;       /* (item_count) */
    int64_t *ref_offsets; /* (item_count + 1): item i owns references[ref_offsets[i], [i+1]) */
    int64_t pair_count;
    char **references;   /* (pair_count), grouped by item */
    int64_t *pair_items; /* (pair_count): the item of each reference */
};

/* ---- building the items while a file is read ---- */

typedef struct builder {
    int group_by_prompt;   /* E2E, JSONL: one item per distinct prompt */
    text_map prompt_items; /* prompt -> item, when grouping */
    char **prompts;
    int64_t item_count, item_cap;
    char **ref_texts;   /* references in file order ... */
    int64_t *ref_items; /* ... and the item each belongs to */
    int64_t ref_count, ref_cap;
} builder;

static spdf_status no_memory(void)
{
    return spdf_fail(SPDF_ENOMEM, "out of memory loading task data");
}

static char *copy_string(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

static int grow_array(void **array, int64_t *cap, int64_t need, size_t element_size)
{
    if (need <= *cap) return 0;
    int64_t new_cap = *cap ? 2 * *cap : 64;
    while (new_cap < need) new_cap *= 2;
    void *grown = realloc(*array, (size_t)new_cap * element_size);
    if (!grown) return -1;
    *array = grown;
    *cap = new_cap;
    return 0;
}

/* The item for a prompt: a new one, or with grouping the existing item of an equal prompt. */
static spdf_status builder_item(builder *b, const char *prompt, size_t len, int64_t *item)
{
    if (b->group_by_prompt) {
        int inserted;
        if (text_map_intern(&b->prompt_items, prompt, len, b->item_count, item, &inserted) != 0)
            return no_memory();
        if (!inserted) return SPDF_OK;
    }
    if (grow_array((void **)&b->prompts, &b->item_cap, b->item_count + 1, sizeof *b->prompts))
        return no_memory();
    if (!(b->prompts[b->item_count] = copy_string(prompt, len))) return no_memory();
    *item = b->item_count++;
    return SPDF_OK;
}

static spdf_status builder_reference(builder *b, int64_t item, const char *text, size_t len)
{
    int64_t cap = b->ref_cap;
    if (grow_array((void **)&b->ref_texts, &cap, b->ref_count + 1, sizeof *b->ref_texts))
        return no_memory();
    if (grow_array((void **)&b->ref_items, &b->ref_cap, b->ref_count + 1, sizeof *b->ref_items))
        return no_memory();
    if (!(b->ref_texts[b->ref_count] = copy_string(text, len))) return no_memory();
    b->ref_items[b->ref_count++] = item;
    return SPDF_OK;
}

static void builder_free(builder *b)
{
    for (int64_t i = 0; i < b->item_count; i++) free(b->prompts[i]);
    for (int64_t i = 0; i < b->ref_count; i++) free(b->ref_texts[i]);
    free(b->prompts);
    free(b->ref_texts);
    free(b->ref_items);
    text_map_free(&b->prompt_items);
    *b = (builder){0};
}

/* Moves the strings into a task-data handle, references grouped by item (a stable counting
 * sort keeps each item's references in file order). */
static spdf_status builder_finish(builder *b, spdf_task_data **out)
{
    spdf_task_data *data = calloc(1, sizeof *data);
    if (data) data->tag = HANDLE_TASK_DATA;
    if (!data) return no_memory();
    const int64_t items = b->item_count, refs = b->ref_count;
    data->ref_offsets = calloc((size_t)items + 1, sizeof *data->ref_offsets);
    data->references = malloc(((size_t)refs + 1) * sizeof *data->references);
    data->pair_items = malloc(((size_t)refs + 1) * sizeof *data->pair_items);
    if (!data->ref_offsets || !data->references || !data->pair_items) {
        spdf_task_data_free(data);
        return no_memory();
    }
    for (int64_t r = 0; r < refs; r++) data->ref_offsets[b->ref_items[r] + 1]++;
    for (int64_t i = 0; i < items; i++) data->ref_offsets[i + 1] += data->ref_offsets[i];
    int64_t *next = b->ref_items; /* reused as the fill position per item, after reading it */
    int64_t *fill = calloc((size_t)items + 1, sizeof *fill);
    if (!fill) {
        spdf_task_data_free(data);
        return no_memory();
    }
    for (int64_t r = 0; r < refs; r++) {
        const int64_t item = next[r];
        const int64_t slot = data->ref_offsets[item] + fill[item]++;
        data->references[slot] = b->ref_texts[r];
        data->pair_items[slot] = item;
    }
    free(fill);
    data->item_count = items;
    data->pair_count = refs;
    data->prompts = b->prompts;
    b->prompts = NULL;
    b->item_count = 0;
    b->ref_count = 0; /* the strings now belong to the handle */
    builder_free(b);
    *out = data;
    return SPDF_OK;
}

/* ---- shared helpers ---- */

static spdf_status read_text(const char *path, char **text, size_t *len)
{
    SPDF_TRY(text_read_file(path, text, len));
    const spdf_status status = text_check_utf8(path, *text, *len);
    if (status != SPDF_OK) {
        free(*text);
        *text = NULL;
    }
    return status;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The text without leading and trailing white space, as a (start, length) view. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n && is_blank(*s)) s++, n--;
    while (n && is_blank(s[n - 1])) n--;
    *len = n;
    return s;
}

static spdf_status format_error(const char *path, int64_t line, const char *what, const char *name)
{
    return spdf_fail(SPDF_EFORMAT, "%s:%lld: %s%s", path, (long long)line, what, name ? name : "");
}

/* ---- E2E CSV ---- */

static spdf_status load_e2e(const char *path, const char *text, size_t len, builder *b)
{
    b->group_by_prompt = 1;
    const size_t bom = text_bom_length(text, len);
    csv_reader csv;
    csv_init(&csv, path, text + bom, len - bom);
    size_t columns, count;
    int64_t line;
    spdf_status status = csv_next(&csv, &columns, &line);
    if (status == SPDF_OK && columns == 0)
        status = spdf_fail(SPDF_EFORMAT, "%s:1: empty file, expected the header \"mr,ref\"", path);
    if (status == SPDF_OK &&
        !((columns == 1 || columns == 2) && strcasecmp(csv_field(&csv, 0), "mr") == 0 &&
          (columns == 1 || strcasecmp(csv_field(&csv, 1), "ref") == 0)))
        status = spdf_fail(SPDF_EFORMAT,
                           "%s:%lld: expected the header \"mr,ref\" (or \"mr\"), found %zu "
                           "field(s) starting with \"%.40s\"",
                           path, (long long)line, columns, csv_field(&csv, 0));
    while (status == SPDF_OK) {
        status = csv_next(&csv, &count, &line);
        if (status != SPDF_OK || count == 0) break;
        if (count != columns) {
            status = spdf_fail(SPDF_EFORMAT, "%s:%lld: expected %zu field(s) (%s), found %zu", path,
                               (long long)line, columns, columns == 2 ? "mr,ref" : "mr", count);
            break;
        }
        const char *mr = csv_field(&csv, 0);
        if (!*mr) {
            status = format_error(path, line, "empty mr", NULL);
            break;
        }
        int64_t item;
        status = builder_item(b, mr, strlen(mr), &item);
        if (status != SPDF_OK || columns == 1) continue;
        const char *ref = csv_field(&csv, 1);
        if (!*ref) {
            status = format_error(path, line, "empty ref", NULL);
            break;
        }
        status = builder_reference(b, item, ref, strlen(ref));
    }
    if (status == SPDF_OK && b->item_count == 0)
        status =
            spdf_fail(SPDF_EFORMAT, "%s:%lld: no rows after the header", path, (long long)line);
    csv_free(&csv);
    return status;
}

/* ---- WebNLG XML ---- */

static spdf_status webnlg_entry(const char *path, const xml_element *entry, builder *b)
{
    const xml_element *triples = NULL;
    for (size_t i = 0; i < entry->child_count; i++) {
        if (strcmp(entry->children[i].name, "modifiedtripleset") != 0) continue;
        if (triples)
            return format_error(path, entry->children[i].line,
                                "a second <modifiedtripleset> in one <entry>", NULL);
        triples = &entry->children[i];
    }
    if (!triples)
        return format_error(path, entry->line, "<entry> without <modifiedtripleset>", NULL);
    text_buffer prompt = {0};
    spdf_status status = SPDF_OK;
    for (size_t i = 0; i < triples->child_count && status == SPDF_OK; i++) {
        const xml_element *triple = &triples->children[i];
        if (strcmp(triple->name, "mtriple") != 0) {
            status = format_error(path, triple->line,
                                  "unexpected element in <modifiedtripleset>: ", triple->name);
            break;
        }
        size_t n;
        const char *t = trim(triple->text, &n);
        if (n == 0 || triple->child_count) {
            status =
                format_error(path, triple->line, "<mtriple> must hold plain, non-empty text", NULL);
            break;
        }
        if ((prompt.len && text_append(&prompt, TRIPLE_SEPARATOR, strlen(TRIPLE_SEPARATOR))) ||
            text_append(&prompt, t, n))
            status = no_memory();
    }
    if (status == SPDF_OK && prompt.len == 0)
        status = format_error(path, triples->line, "<modifiedtripleset> holds no <mtriple>", NULL);
    int64_t item = 0;
    if (status == SPDF_OK) status = builder_item(b, prompt.data, prompt.len, &item);
    text_buffer_free(&prompt);
    for (size_t i = 0; i < entry->child_count && status == SPDF_OK; i++) {
        const xml_element *lex = &entry->children[i];
        if (strcmp(lex->name, "lex") != 0) continue;
        size_t n;
        const char *t = trim(lex->text, &n);
        if (lex->child_count)
            status = format_error(path, lex->line,
                                  "<lex> with child elements is not supported "
                                  "(the WebNLG 2017 layout has plain text)",
                                  NULL);
        else if (n > 0) /* an empty <lex/> holds no reference (DART's test XML has one) */
            status = builder_reference(b, item, t, n);
    }
    return status;
}

static spdf_status load_webnlg_file(const char *path, builder *b)
{
    char *text;
    size_t len;
    SPDF_TRY(read_text(path, &text, &len));
    xml_element *root = NULL;
    spdf_status status = xml_parse(path, text, len, &root);
    free(text);
    if (status != SPDF_OK) return status;
    if (strcmp(root->name, "benchmark") != 0)
        status =
            spdf_fail(SPDF_EFORMAT, "%s:%lld: expected the root element <benchmark>, found <%s>",
                      path, (long long)root->line, root->name);
    const int64_t items_before = b->item_count;
    for (size_t i = 0; i < root->child_count && status == SPDF_OK; i++) {
        const xml_element *entries = &root->children[i];
        if (strcmp(entries->name, "entries") != 0) continue;
        for (size_t j = 0; j < entries->child_count && status == SPDF_OK; j++) {
            const xml_element *entry = &entries->children[j];
            if (strcmp(entry->name, "entry") != 0)
                status = format_error(path, entry->line,
                                      "unexpected element in <entries>: ", entry->name);
            else
                status = webnlg_entry(path, entry, b);
        }
    }
    if (status == SPDF_OK && b->item_count == items_before)
        status = format_error(path, root->line, "no <entries><entry> in <benchmark>", NULL);
    xml_free(root);
    return status;
}

typedef struct path_list {
    char **paths;
    int64_t count, cap;
} path_list;

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the regular *.xml files below dir (recursively). */
static spdf_status find_xml_files(const char *dir, path_list *list, int depth)
{
    if (depth > 32) return spdf_fail(SPDF_EIO, "%s: directories nested too deeply", dir);
    DIR *handle = opendir(dir);
    if (!handle) return spdf_fail(SPDF_EIO, "cannot open directory %s: %s", dir, strerror(errno));
    spdf_status status = SPDF_OK;
    struct dirent *entry;
    while (status == SPDF_OK && (entry = readdir(handle)) != NULL) {
        const char *name = entry->d_name;
        if (name[0] == '.') continue; /* ".", ".." and hidden files */
        const size_t n = strlen(dir) + strlen(name) + 2;
        char *path = malloc(n);
        if (!path) {
            status = no_memory();
            break;
        }
        snprintf(path, n, "%s/%s", dir, name);
        struct stat st;
        const size_t name_len = strlen(name);
        if (stat(path, &st) != 0) {
            status = spdf_fail(SPDF_EIO, "cannot stat %s: %s", path, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            status = find_xml_files(path, list, depth + 1);
        } else if (S_ISREG(st.st_mode) && name_len > 4 &&
                   strcmp(name + name_len - 4, ".xml") == 0) {
            if (grow_array((void **)&list->paths, &list->cap, list->count + 1, sizeof(char *))) {
                status = no_memory();
            } else {
                list->paths[list->count++] = path;
                path = NULL;
            }
        }
        free(path);
    }
    closedir(handle);
    return status;
}

static spdf_status load_webnlg(const char *path, builder *b)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return spdf_fail(SPDF_EIO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return load_webnlg_file(path, b);
    path_list list = {0};
    spdf_status status = find_xml_files(path, &list, 0);
    if (status == SPDF_OK && list.count == 0)
        status = spdf_fail(SPDF_EIO, "no *.xml file below the directory %s", path);
    if (status == SPDF_OK) qsort(list.paths, (size_t)list.count, sizeof *list.paths, compare_paths);
    for (int64_t i = 0; i < list.count && status == SPDF_OK; i++)
        status = load_webnlg_file(list.paths[i], b);
    for (int64_t i = 0; i < list.count; i++) free(list.paths[i]);
    free(list.paths);
    return status;
}

/* ---- DART JSON ---- */

static spdf_status expect_type(const char *path, const json_value *value, json_type type,
                               const char *what)
{
    if (value->type == type) return SPDF_OK;
    return spdf_fail(SPDF_EFORMAT, "%s:%lld: %s must be %s, found %s", path, (long long)value->line,
                     what, json_type_name(type), json_type_name(value->type));
}

static const json_value *member_or_fail(const char *path, const json_value *object, const char *key,
                                        spdf_status *status)
{
    const json_value *value = json_member(object, key);
    if (!value)
        *status =
            spdf_fail(SPDF_EFORMAT, "%s:%lld: missing \"%s\"", path, (long long)object->line, key);
    return value;
}

/* "s | p | o && s | p | o ..." from a tripleset. */
static spdf_status dart_prompt(const char *path, const json_value *tripleset, text_buffer *prompt)
{
    SPDF_TRY(expect_type(path, tripleset, JSON_ARRAY, "\"tripleset\""));
    if (tripleset->count == 0)
        return format_error(path, tripleset->line, "empty \"tripleset\"", NULL);
    for (size_t i = 0; i < tripleset->count; i++) {
        const json_value *triple = &tripleset->items[i];
        if (triple->type != JSON_ARRAY || triple->count != 3)
            return format_error(
                path, triple->line,
                "a triple must be an array of 3 strings [subject, predicate, object]", NULL);
        if (i && text_append(prompt, TRIPLE_SEPARATOR, strlen(TRIPLE_SEPARATOR)))
            return no_memory();
        for (size_t k = 0; k < 3; k++) {
            const json_value *part = &triple->items[k];
            SPDF_TRY(expect_type(path, part, JSON_STRING, "each part of a triple"));
            if ((k && text_append(prompt, " | ", 3)) ||
                text_append(prompt, part->text, part->length))
                return no_memory();
        }
    }
    return SPDF_OK;
}

static spdf_status dart_element(const char *path, const json_value *element, builder *b)
{
    SPDF_TRY(expect_type(path, element, JSON_OBJECT, "an element of the list"));
    spdf_status status = SPDF_OK;
    const json_value *tripleset = member_or_fail(path, element, "tripleset", &status);
    const json_value *annotations =
        tripleset ? member_or_fail(path, element, "annotations", &status) : NULL;
    if (status != SPDF_OK) return status;
    SPDF_TRY(expect_type(path, annotations, JSON_ARRAY, "\"annotations\""));
    text_buffer prompt = {0};
    status = dart_prompt(path, tripleset, &prompt);
    int64_t item = 0;
    if (status == SPDF_OK) status = builder_item(b, prompt.data, prompt.len, &item);
    text_buffer_free(&prompt);
    for (size_t i = 0; i < annotations->count && status == SPDF_OK; i++) {
        const json_value *annotation = &annotations->items[i];
        status = expect_type(path, annotation, JSON_OBJECT, "an annotation");
        const json_value *text =
            status == SPDF_OK ? member_or_fail(path, annotation, "text", &status) : NULL;
        if (status == SPDF_OK) status = expect_type(path, text, JSON_STRING, "\"text\"");
        if (status == SPDF_OK && text->length == 0)
            status = format_error(path, text->line, "empty \"text\"", NULL);
        if (status == SPDF_OK) status = builder_reference(b, item, text->text, text->length);
    }
    return status;
}

static spdf_status load_dart(const char *path, const char *text, size_t len, builder *b)
{
    const size_t bom = text_bom_length(text, len);
    json_value *root;
    SPDF_TRY(json_parse(path, 1, text + bom, len - bom, &root));
    spdf_status status = expect_type(path, root, JSON_ARRAY, "the top level");
    if (status == SPDF_OK && root->count == 0)
        status = format_error(path, root->line, "the list of items is empty", NULL);
    for (size_t i = 0; i < root->count && status == SPDF_OK; i++)
        status = dart_element(path, &root->items[i], b);
    json_free(root);
    return status;
}

/* ---- JSON Lines ---- */

static spdf_status jsonl_line(const char *path, const json_value *object, builder *b)
{
    SPDF_TRY(expect_type(path, object, JSON_OBJECT, "each line"));
    spdf_status status = SPDF_OK;
    const json_value *prompt = member_or_fail(path, object, "prompt", &status);
    const json_value *target = prompt ? member_or_fail(path, object, "target", &status) : NULL;
    if (status != SPDF_OK) return status;
    SPDF_TRY(expect_type(path, prompt, JSON_STRING, "\"prompt\""));
    if (prompt->length == 0) return format_error(path, prompt->line, "empty \"prompt\"", NULL);
    const json_value *targets = target;
    size_t count = 1;
    if (target->type == JSON_ARRAY) {
        targets = target->items;
        count = target->count;
        if (count == 0) return format_error(path, target->line, "empty \"target\" list", NULL);
    }
    int64_t item;
    SPDF_TRY(builder_item(b, prompt->text, prompt->length, &item));
    for (size_t i = 0; i < count; i++) {
        SPDF_TRY(expect_type(path, &targets[i], JSON_STRING,
                             "\"target\" (a string or a list of strings)"));
        if (targets[i].length == 0)
            return format_error(path, targets[i].line, "empty \"target\"", NULL);
        SPDF_TRY(builder_reference(b, item, targets[i].text, targets[i].length));
    }
    return SPDF_OK;
}

static spdf_status load_jsonl(const char *path, const char *text, size_t len, builder *b)
{
    b->group_by_prompt = 1;
    const char *pos = text + text_bom_length(text, len), *end = text + len;
    for (int64_t line = 1; pos < end; line++) {
        const char *newline = memchr(pos, '\n', (size_t)(end - pos));
        const char *line_end = newline ? newline : end;
        const char *p = pos;
        while (p < line_end && is_blank(*p)) p++;
        if (p < line_end) {
            json_value *object;
            SPDF_TRY(json_parse(path, line, pos, (size_t)(line_end - pos), &object));
            const spdf_status status = jsonl_line(path, object, b);
            json_free(object);
            SPDF_TRY(status);
        }
        pos = newline ? newline + 1 : end;
    }
    if (b->item_count == 0)
        return spdf_fail(SPDF_EFORMAT, "%s:1: no JSON object in the file", path);
    return SPDF_OK;
}

/* ---- public API ---- */

spdf_status spdf_task_data_load(const char *path, spdf_task_format format, spdf_task_data **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(out);
    SPDF_CHECK_ARG(format == SPDF_TASK_E2E_CSV || format == SPDF_TASK_WEBNLG_XML ||
                   format == SPDF_TASK_DART_JSON || format == SPDF_TASK_JSONL);
    builder b = {0};
    spdf_status status;
    if (format == SPDF_TASK_WEBNLG_XML) {
        status = load_webnlg(path, &b);
    } else {
        char *text;
        size_t len;
        SPDF_TRY(read_text(path, &text, &len));
        if (format == SPDF_TASK_E2E_CSV)
            status = load_e2e(path, text, len, &b);
        else if (format == SPDF_TASK_DART_JSON)
            status = load_dart(path, text, len, &b);
        else
            status = load_jsonl(path, text, len, &b);
        free(text);
    }
    if (status == SPDF_OK) status = builder_finish(&b, out);
    builder_free(&b);
    return status;
}

void spdf_task_data_free(spdf_task_data *data)
{
    if (!spdf_handle_is(data, HANDLE_TASK_DATA)) return; /* NULL, freed, or not a task data */
    for (int64_t i = 0; i < data->item_count; i++) free(data->prompts[i]);
    for (int64_t i = 0; i < data->pair_count; i++) free(data->references[i]);
    free(data->prompts);
    free(data->references);
    free(data->ref_offsets);
    free(data->pair_items);
    spdf_handle_poison(data);
    free(data);
}

static spdf_status check_item(const spdf_task_data *data, int64_t item)
{
    if (item < 0 || item >= data->item_count)
        return spdf_fail(SPDF_EINVAL, "item %lld is out of range [0, %lld)", (long long)item,
                         (long long)data->item_count);
    return SPDF_OK;
}

spdf_status spdf_task_data_count(const spdf_task_data *data, int64_t *items)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(data, HANDLE_TASK_DATA);
    SPDF_CHECK_ARG(items);
    *items = data->item_count;
    return SPDF_OK;
}

spdf_status spdf_task_data_prompt(const spdf_task_data *data, int64_t item, const char **prompt)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(data, HANDLE_TASK_DATA);
    SPDF_CHECK_ARG(prompt);
    SPDF_TRY(check_item(data, item));
    *prompt = data->prompts[item];
    return SPDF_OK;
}

spdf_status spdf_task_data_reference_count(const spdf_task_data *data, int64_t item, int32_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(data, HANDLE_TASK_DATA);
    SPDF_CHECK_ARG(count);
    SPDF_TRY(check_item(data, item));
    *count = (int32_t)(data->ref_offsets[item + 1] - data->ref_offsets[item]);
    return SPDF_OK;
}

spdf_status spdf_task_data_reference(const spdf_task_data *data, int64_t item, int32_t index,
                                     const char **text)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(data, HANDLE_TASK_DATA);
    SPDF_CHECK_ARG(text);
    SPDF_TRY(check_item(data, item));
    const int64_t count = data->ref_offsets[item + 1] - data->ref_offsets[item];
    if (index < 0 || index >= count)
        return spdf_fail(SPDF_EINVAL, "reference %d of item %lld is out of range [0, %lld)",
                         (int)index, (long long)item, (long long)count);
    *text = data->references[data->ref_offsets[item] + index];
    return SPDF_OK;
}

spdf_status spdf_task_data_references(const spdf_task_data *data, int64_t item,
                                      const char *const **references, int32_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(data, HANDLE_TASK_DATA);
    SPDF_CHECK_ARG(references);
    SPDF_CHECK_ARG(count);
    SPDF_TRY(check_item(data, item));
    *references = (const char *const *)&data->references[data->ref_offsets[item]];
    *count = (int32_t)(data->ref_offsets[item + 1] - data->ref_offsets[item]);
    return SPDF_OK;
}

spdf_status spdf_task_data_pair_count(const spdf_task_data *data, int64_t *pairs)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(data, HANDLE_TASK_DATA);
    SPDF_CHECK_ARG(pairs);
    *pairs = data->pair_count;
    return SPDF_OK;
}

spdf_status spdf_task_data_pair(const spdf_task_data *data, int64_t pair, const char **prompt,
                                const char **target)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(data, HANDLE_TASK_DATA);
    SPDF_CHECK_ARG(prompt);
    SPDF_CHECK_ARG(target);
    if (pair < 0 || pair >= data->pair_count)
        return spdf_fail(SPDF_EINVAL, "pair %lld is out of range [0, %lld)", (long long)pair,
                         (long long)data->pair_count);
    *prompt = data->prompts[data->pair_items[pair]];
    *target = data->references[pair];
    return SPDF_OK;
}
