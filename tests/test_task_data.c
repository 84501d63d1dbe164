/* Unit tests of the task-data readers (lib/io/task_data.c with csv.c, json.c, xml.c): each
 * format's quirks on small files written here, malformed input reported as SPDF_EFORMAT with
 * "file:line:", argument checks, and the real E2E, WebNLG and DART files when they are present. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- scratch directory, one per test (tests run in forked processes) ---- */


/* Writes `content` to a file of the scratch directory and returns its path (static buffer per
 * call site is not needed: each call returns a new string, freed at exit of the test). */
static char *write_file(const char *name, const char *content)
{
    char *path = malloc(strlen(scratch_dir) + strlen(name) + 2);
    ck_assert_ptr_nonnull(path);
    sprintf(path, "%s/%s", scratch_dir, name);
    char *slash = strrchr(path, '/');
    if (slash > path + strlen(scratch_dir)) { /* create sub-directories */
        for (char *p = path + strlen(scratch_dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(content, 1, strlen(content), f), strlen(content));
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static spdf_task_data *load_ok(const char *path, spdf_task_format format)
{
    spdf_task_data *data = NULL;
    const spdf_status status = spdf_task_data_load(path, format, &data);
    ck_assert_msg(status == SPDF_OK, "loading %s: %s: %s", path, spdf_status_name(status),
                  spdf_last_error());
    return data;
}

/* Loading `content` fails with SPDF_EFORMAT and a message "<path>:<line>: ...". */
static void assert_format_error(spdf_task_format format, const char *content, int line,
                                const char *fragment)
{
    char *path = write_file("bad.input", content);
    spdf_task_data *data = (spdf_task_data *)1;
    const spdf_status status = spdf_task_data_load(path, format, &data);
    char where[4200];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    ck_assert_msg(status == SPDF_EFORMAT, "%s: expected SPDF_EFORMAT, got %s (%s)", fragment,
                  spdf_status_name(status), spdf_last_error());
    ck_assert_msg(strstr(spdf_last_error(), where) != NULL, "expected \"%s\" in \"%s\"", where,
                  spdf_last_error());
    ck_assert_msg(strstr(spdf_last_error(), fragment) != NULL, "expected \"%s\" in \"%s\"",
                  fragment, spdf_last_error());
    ck_assert_ptr_eq(data, (spdf_task_data *)1); /* output untouched */
    free(path);
}

static int64_t items_of(const spdf_task_data *data)
{
    int64_t items = -1;
    ck_assert_int_eq(spdf_task_data_count(data, &items), SPDF_OK);
    return items;
}

static int64_t pairs_of(const spdf_task_data *data)
{
    int64_t pairs = -1;
    ck_assert_int_eq(spdf_task_data_pair_count(data, &pairs), SPDF_OK);
    return pairs;
}

static void assert_item(const spdf_task_data *data, int64_t item, const char *prompt,
                        int32_t n_refs, const char *const *refs)
{
    const char *got;
    ck_assert_int_eq(spdf_task_data_prompt(data, item, &got), SPDF_OK);
    ck_assert_str_eq(got, prompt);
    int32_t count = -1;
    ck_assert_int_eq(spdf_task_data_reference_count(data, item, &count), SPDF_OK);
    ck_assert_int_eq(count, n_refs);
    const char *const *all;
    ck_assert_int_eq(spdf_task_data_references(data, item, &all, &count), SPDF_OK);
    ck_assert_int_eq(count, n_refs);
    for (int32_t r = 0; r < n_refs; r++) {
        ck_assert_int_eq(spdf_task_data_reference(data, item, r, &got), SPDF_OK);
        ck_assert_str_eq(got, refs[r]);
        ck_assert_str_eq(all[r], refs[r]);
    }
}

static void assert_pair(const spdf_task_data *data, int64_t pair, const char *prompt,
                        const char *target)
{
    const char *p, *t;
    ck_assert_int_eq(spdf_task_data_pair(data, pair, &p, &t), SPDF_OK);
    ck_assert_str_eq(p, prompt);
    ck_assert_str_eq(t, target);
}

/* ---- E2E CSV ---- */

START_TEST(test_e2e_csv_quirks)
{
    char *path =
        write_file("e2e.csv", "mr,ref\r\n"
                              "\"name[A], food[Café £]\",\"Hello, \"\"quoted\"\" world\"\r\n"
                              "\"name[B]\",\"Line one\nline two\"\r\n"
                              "\r\n"
                              "\"name[A], food[Café £]\",plain ref\r\n"
                              "name[C],\"\"\"\"\n"
                              "\"name[D]\",\"é at the end, no newline\"");
    spdf_task_data *data = load_ok(path, SPDF_TASK_E2E_CSV);
    ck_assert_int_eq(items_of(data), 4);
    ck_assert_int_eq(pairs_of(data), 5);
    const char *a[] = {"Hello, \"quoted\" world", "plain ref"}, *b[] = {"Line one\nline two"},
               *c[] = {"\""}, *d[] = {"é at the end, no newline"};
    assert_item(data, 0, "name[A], food[Café £]", 2, a); /* grouped, in order of appearance */
    assert_item(data, 1, "name[B]", 1, b);
    assert_item(data, 2, "name[C]", 1, c);
    assert_item(data, 3, "name[D]", 1, d);
    assert_pair(data, 0, "name[A], food[Café £]", a[0]);
    assert_pair(data, 1, "name[A], food[Café £]", a[1]);
    assert_pair(data, 2, "name[B]", b[0]);
    assert_pair(data, 4, "name[D]", d[0]);
    spdf_task_data_free(data);
    free(path);

    /* testset.csv style: only MRs */
    path = write_file("mr-only.csv", "MR\n\"name[A], area[riverside]\"\n\"name[B]\"\n");
    data = load_ok(path, SPDF_TASK_E2E_CSV);
    ck_assert_int_eq(items_of(data), 2);
    ck_assert_int_eq(pairs_of(data), 0);
    assert_item(data, 0, "name[A], area[riverside]", 0, NULL);
    spdf_task_data_free(data);
    free(path);

    /* a UTF-8 byte order mark is skipped */
    path = write_file("bom.csv", "\xEF\xBB\xBFmr,ref\n\"x\",\"y\"\n");
    data = load_ok(path, SPDF_TASK_E2E_CSV);
    const char *y[] = {"y"};
    assert_item(data, 0, "x", 1, y);
    spdf_task_data_free(data);
    free(path);
}
END_TEST

START_TEST(test_e2e_csv_errors)
{
    const spdf_task_format f = SPDF_TASK_E2E_CSV;
    assert_format_error(f, "mr,ref\n\"a\",\"b\"\n\"c\"\n", 3, "expected 2 field(s)");
    assert_format_error(f, "mr,ref\na,b,c\n", 2, "found 3");
    assert_format_error(f, "mr,ref\na,b\nc,\"never closed\nstill open\n", 3, "never closed");
    assert_format_error(f, "mr,ref\na,b\n\"c,\"d,e\n", 3, "after the closing quote");
    assert_format_error(f, "mr,ref\na,b\"c\n", 2, "quote inside an unquoted field");
    assert_format_error(f, "meaning,text\na,b\n", 1, "expected the header");
    assert_format_error(f, "", 1, "empty file");
    assert_format_error(f, "mr,ref\n,b\n", 2, "empty mr");
    assert_format_error(f, "mr,ref\na,\n", 2, "empty ref");
    assert_format_error(f, "mr,ref\ra,b\n", 1, "carriage return");
    assert_format_error(f, "mr,ref\na,b\nc,\xFF\n", 3, "invalid UTF-8");
    assert_format_error(f, "mr,ref\na,b\nc,\xC3\n", 3, "invalid UTF-8"); /* truncated sequence */
    assert_format_error(f, "mr,ref\n\"a\",\"x\ny\nz\"\n\"b\"\n", 5, "expected 2 field(s)");
    char nul[] = "mr,ref\na,b\nc,d\n";
    nul[13] = '\0'; /* cannot go through write_file: write the bytes directly */
    char *path = write_file("nul.csv", "");
    FILE *file = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(nul, 1, sizeof nul - 1, file), sizeof nul - 1);
    fclose(file);
    spdf_task_data *data;
    ck_assert_int_eq(spdf_task_data_load(path, f, &data), SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), ":3: NUL byte"));
    free(path);
    assert_format_error(f, "mr,ref\r\n", 2, "no rows after the header");
}
END_TEST

/* ---- JSON Lines ---- */

START_TEST(test_jsonl_quirks)
{
    char *path = write_file(
        "pairs.jsonl",
        "{\"prompt\": \"p1\", \"target\": \"t1\"}\n"
        "   \r\n"
        "{\"target\": \"t2\", \"prompt\": \"p1\", \"id\": 7, \"meta\": {\"x\": [1, -2.5e-3, "
        "0.5E+2, "
        "true, false, null, {}, []]}}\r\n"
        "{\"prompt\": \"esc \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\u00E9 \\ud83d\\ude00 £\","
        " \"target\": [\"a\", \"b\"]}");
    spdf_task_data *data = load_ok(path, SPDF_TASK_JSONL);
    ck_assert_int_eq(items_of(data), 2);
    ck_assert_int_eq(pairs_of(data), 4);
    const char *p1[] = {"t1", "t2"}, *ab[] = {"a", "b"};
    assert_item(data, 0, "p1", 2, p1);
    assert_item(data, 1, "esc \"q\" \\ / \b\f\n\r\t é é \xF0\x9F\x98\x80 £", 2, ab);
    assert_pair(data, 3, "esc \"q\" \\ / \b\f\n\r\t é é \xF0\x9F\x98\x80 £", "b");
    spdf_task_data_free(data);
    free(path);
}
END_TEST

START_TEST(test_jsonl_errors)
{
    const spdf_task_format f = SPDF_TASK_JSONL;
    const char *ok = "{\"prompt\": \"a\", \"target\": \"b\"}\n";
    char buffer[512];
#define LINE2(text) (snprintf(buffer, sizeof buffer, "%s%s\n", ok, text), buffer)
    assert_format_error(f, LINE2("{\"prompt\": \"\\ud83d\", \"target\": \"x\"}"), 2,
                        "high surrogate");
    assert_format_error(f, LINE2("{\"prompt\": \"\\ud83d\\u0041\", \"target\": \"x\"}"), 2,
                        "high surrogate");
    assert_format_error(f, LINE2("{\"prompt\": \"\\ude00\", \"target\": \"x\"}"), 2,
                        "low surrogate");
    assert_format_error(f, LINE2("{\"prompt\": \"\\x41\", \"target\": \"x\"}"), 2,
                        "invalid escape");
    assert_format_error(f, LINE2("{\"prompt\": \"\\u12G4\", \"target\": \"x\"}"), 2,
                        "four hex digits");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": \"b\",}"), 2, "member name");
    assert_format_error(f, LINE2("{\"target\": \"b\"}"), 2, "missing \"prompt\"");
    assert_format_error(f, LINE2("{\"prompt\": \"a\"}"), 2, "missing \"target\"");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": 5}"), 2, "must be a string");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": [\"x\", null]}"), 2,
                        "must be a string");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": []}"), 2,
                        "empty \"target\" list");
    assert_format_error(f, LINE2("{\"prompt\": \"\", \"target\": \"b\"}"), 2, "empty \"prompt\"");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"prompt\": \"b\", \"target\": \"c\"}"), 2,
                        "appears twice");
    assert_format_error(f, LINE2("{\"prompt\": \"a\tb\", \"target\": \"c\"}"), 2,
                        "control character");
    assert_format_error(f, LINE2("{\"prompt\": \"a\\u0000\", \"target\": \"c\"}"), 2, "NUL");
    assert_format_error(f, LINE2("{\"prompt\": \"a, \"target\": \"c\"}"), 2, "expected");
    assert_format_error(f, LINE2("{\"prompt\": \"unterminated"), 2, "unterminated string");
    assert_format_error(f, LINE2("[\"prompt\", \"target\"]"), 2, "must be an object");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": \"b\", \"n\": 01}"), 2,
                        "leading zeros");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": \"b\", \"n\": 1.}"), 2, "digit");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": \"b\"} x"), 2,
                        "end of the input");
    assert_format_error(f, LINE2("{\"prompt\": \"a\", \"target\": \"b\", \"n\": tru}"), 2, "value");
    assert_format_error(f, "\n\n   \n", 1, "no JSON object");
#undef LINE2
}
END_TEST

/* ---- DART JSON ---- */

static const char dart_sample[] =
    "[\n"
    "  {\n"
    "    \"tripleset\": [\n"
    "      [\"Mars Hill College\", \"JOINED\", \"1973\"],\n"
    "      [\"Mars Hill College\", \"LOCATION\", \"Mars Hill, North Carolina\"]\n"
    "    ],\n"
    "    \"subtree_was_extended\": true,\n"
    "    \"annotations\": [{\"source\": \"WikiSQL_decl_sents\",\n"
    "                     \"text\":\n"
    "                     \"A school from Mars Hill, North Carolina, joined in 1973.\"}]\n"
    "  },\n"
    "  {\"tripleset\": [[\"A & B\", \"p\", \"o \\u00e9\"]],\n"
    "   \"annotations\": [{\"source\": \"x\", \"text\": \"t1\"}, {\"source\": \"y\", \"text\": "
    "\"t2\"}]},\n"
    "  {\"tripleset\": [[\"A & B\", \"p\", \"o \\u00e9\"]], \"annotations\": []}\n"
    "]\n";

START_TEST(test_dart_json)
{
    char *path = write_file("dart.json", dart_sample);
    spdf_task_data *data = load_ok(path, SPDF_TASK_DART_JSON);
    ck_assert_int_eq(items_of(data), 3); /* one item per element, equal triplesets included */
    ck_assert_int_eq(pairs_of(data), 3);
    const char *first[] = {"A school from Mars Hill, North Carolina, joined in 1973."},
               *second[] = {"t1", "t2"};
    assert_item(data, 0,
                "Mars Hill College | JOINED | 1973 && Mars Hill College | LOCATION | Mars Hill, "
                "North Carolina",
                1, first);
    assert_item(data, 1, "A & B | p | o é", 2, second);
    assert_item(data, 2, "A & B | p | o é", 0, NULL);
    assert_pair(data, 2, "A & B | p | o é", "t2");
    spdf_task_data_free(data);
    free(path);

    const spdf_task_format f = SPDF_TASK_DART_JSON;
    assert_format_error(f, "[\n {\"tripleset\": [[\"s\", \"p\"]],\n  \"annotations\": []}\n]", 2,
                        "array of 3 strings");
    assert_format_error(f, "[\n {\"tripleset\": [[\"s\", \"p\", 3]], \"annotations\": []}\n]", 2,
                        "must be a string");
    assert_format_error(f, "[\n {\"tripleset\": [],\n  \"annotations\": []}\n]", 2,
                        "empty \"tripleset\"");
    assert_format_error(f, "[\n\n {\"tripleset\": [[\"s\", \"p\", \"o\"]]}\n]", 3,
                        "missing \"annotations\"");
    assert_format_error(
        f, "[{\"tripleset\": [[\"s\", \"p\", \"o\"]],\n \"annotations\": [{\"text\": 1}]}]", 2,
        "\"text\" must be a string");
    assert_format_error(f, "[{\"tripleset\": [[\"s\", \"p\", \"o\"]],\n \"annotations\": [{}]}]", 2,
                        "missing \"text\"");
    assert_format_error(f, "{\"tripleset\": []}", 1, "must be an array");
    assert_format_error(f, "[]", 1, "empty");
    assert_format_error(f, "[\n {\"tripleset\": [[\"s\", \"p\", \"o\"]], \"annotations\": []},\n]",
                        3, "expected a value");
}
END_TEST

/* ---- WebNLG XML ---- */

static const char webnlg_sample[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<!-- a comment before the root -->\n"
    "<benchmark>\n"
    "  <entries>\n"
    "    <entry category=\"Airport\" eid='Id1' size=\"2\">\n"
    "      <originaltripleset><otriple>ignored | x | y</otriple></originaltripleset>\n"
    "      <modifiedtripleset>\n"
    "        <mtriple>Aarhus_Airport | cityServed | \"Aarhus, Denmark\"</mtriple>\n"
    "        <mtriple>  Caf&#233; &amp; Bar | location | &lt;somewhere&gt; &#xE9;  </mtriple>\n"
    "      </modifiedtripleset>\n"
    "      <lex comment=\"good\" lid=\"Id1\">The &quot;Aarhus&quot; airport &apos;serves&apos; "
    "Café &amp; Bar.</lex>\n"
    "      <!-- <lex>commented out</lex> -->\n"
    "      <lex comment=\"good\" lid=\"Id2\"><![CDATA[Raw <b>text</b> & more]]></lex>\n"
    "      <lex lid=\"Id3\"/>\n"
    "    </entry>\n"
    "    <entry category=\"x\" eid=\"Id2\" size=\"1\">\n"
    "      <modifiedtripleset><mtriple>s | p | o</mtriple></modifiedtripleset>\n"
    "    </entry>\n"
    "  </entries>\n"
    "</benchmark>\n";

START_TEST(test_webnlg_xml)
{
    char *path = write_file("webnlg.xml", webnlg_sample);
    spdf_task_data *data = load_ok(path, SPDF_TASK_WEBNLG_XML);
    ck_assert_int_eq(items_of(data), 2);
    ck_assert_int_eq(pairs_of(data), 2);
    const char *refs[] = {"The \"Aarhus\" airport 'serves' Café & Bar.", "Raw <b>text</b> & more"};
    assert_item(data, 0,
                "Aarhus_Airport | cityServed | \"Aarhus, Denmark\" && Café & Bar | location | "
                "<somewhere> é",
                2, refs);
    assert_item(data, 1, "s | p | o", 0, NULL);
    spdf_task_data_free(data);
    free(path);

    /* a directory: every *.xml below it, in byte order of the paths */
    char *second = write_file("tree/2triples/b.xml",
                              "<benchmark><entries><entry><modifiedtripleset><mtriple>b | p | o"
                              "</mtriple></modifiedtripleset><lex>from b</lex></entry></entries>"
                              "</benchmark>");
    char *first = write_file("tree/1triples/a.xml",
                             "<benchmark><entries><entry><modifiedtripleset><mtriple>a | p | o"
                             "</mtriple></modifiedtripleset><lex>from a</lex></entry></entries>"
                             "</benchmark>");
    char *other = write_file("tree/notes.txt", "not XML");
    char *dir = write_file("tree/0.xml.bak", "ignored too");
    *strrchr(dir, '/') = '\0';
    data = load_ok(dir, SPDF_TASK_WEBNLG_XML);
    ck_assert_int_eq(items_of(data), 2);
    assert_pair(data, 0, "a | p | o", "from a");
    assert_pair(data, 1, "b | p | o", "from b");
    spdf_task_data_free(data);
    free(first);
    free(second);
    free(other);
    free(dir);
}
END_TEST

START_TEST(test_webnlg_xml_errors)
{
    const spdf_task_format f = SPDF_TASK_WEBNLG_XML;
    const char *head = "<benchmark>\n<entries>\n<entry>\n";
    char buffer[512];
#define ENTRY(text)                                                                                \
    (snprintf(buffer, sizeof buffer, "%s%s\n</entry>\n</entries>\n</benchmark>\n", head, text),    \
     buffer)
    assert_format_error(f, ENTRY("<modifiedtripleset><mtriple>a</modifiedtripleset>"), 4,
                        "</modifiedtripleset> does not close <mtriple>");
    assert_format_error(f,
                        ENTRY("<modifiedtripleset><mtriple>a &nbsp; b</mtriple>"
                              "</modifiedtripleset>"),
                        4, "unknown entity &nbsp;");
    assert_format_error(f, ENTRY("<modifiedtripleset><mtriple>a & b</mtriple></modifiedtripleset>"),
                        4, "'&' must start a reference");
    assert_format_error(f, ENTRY("<modifiedtripleset><mtriple>&#0;</mtriple></modifiedtripleset>"),
                        4, "not an XML character");
    assert_format_error(f,
                        ENTRY("<modifiedtripleset><mtriple>&#xD800;</mtriple></modifiedtripleset>"),
                        4, "not an XML character");
    assert_format_error(f, ENTRY("<lex>no triples</lex>"), 3, "without <modifiedtripleset>");
    assert_format_error(f, ENTRY("<modifiedtripleset></modifiedtripleset>"), 4,
                        "holds no <mtriple>");
    assert_format_error(f, ENTRY("<modifiedtripleset><mtriple>  </mtriple></modifiedtripleset>"), 4,
                        "non-empty text");
    assert_format_error(f,
                        ENTRY("<modifiedtripleset><mtriple>a</mtriple></modifiedtripleset>\n"
                              "<lex>x <b>bold</b></lex>"),
                        5, "child elements");
    assert_format_error(f,
                        ENTRY("<modifiedtripleset a=\"1\" a=\"2\"><mtriple>a</mtriple>"
                              "</modifiedtripleset>"),
                        4, "appears twice");
    assert_format_error(f, ENTRY("<modifiedtripleset a=1><mtriple>a</mtriple></modifiedtripleset>"),
                        4, "must be quoted");
    assert_format_error(f,
                        ENTRY("<modifiedtripleset><mtriple>a</mtriple></modifiedtripleset>\n"
                              "<modifiedtripleset><mtriple>b</mtriple></modifiedtripleset>"),
                        5, "a second <modifiedtripleset>");
    assert_format_error(f, "<benchmark>\n<entries>\n<entry>\n<modifiedtripleset>\n", 4,
                        "<modifiedtripleset> is never closed");
    assert_format_error(f, "<!DOCTYPE benchmark [<!ENTITY x \"y\">]>\n<benchmark/>", 1, "DOCTYPE");
    assert_format_error(f, "<?xml version='1.0'?>\n<root>\n</root>\n", 2,
                        "expected the root element <benchmark>");
    assert_format_error(f, "<benchmark>\n</benchmark>\ntrailing text\n", 3,
                        "after the root element");
    assert_format_error(f, "<benchmark>\n<entries/>\n</benchmark>\n", 1, "no <entries><entry>");
    assert_format_error(f, "<benchmark>\n<entries>\n<other/>\n</entries>\n</benchmark>\n", 3,
                        "unexpected element in <entries>: other");
    assert_format_error(f, "<benchmark>\n<!-- never closed\n", 2, "comment is never closed");
    assert_format_error(f, "<benchmark>\n<![CDATA[ open\n</benchmark>", 2, "CDATA");
    assert_format_error(f, "\n\n<benchmark>\xC3\x28</benchmark>", 3, "invalid UTF-8");
    assert_format_error(f, "<benchmark>\x01</benchmark>", 1, "control character");
#undef ENTRY
}
END_TEST

/* ---- arguments and I/O errors ---- */

static void assert_einval(spdf_status status, const char *what)
{
    ck_assert_msg(status == SPDF_EINVAL, "%s: got %s", what, spdf_status_name(status));
    ck_assert_msg(spdf_last_error()[0] != '\0', "%s: no error detail", what);
}

START_TEST(test_invalid_arguments)
{
    char *path = write_file("ok.csv", "mr,ref\na,b\na,c\n");
    spdf_task_data *data = NULL;
    assert_einval(spdf_task_data_load(NULL, SPDF_TASK_E2E_CSV, &data), "load(NULL path)");
    assert_einval(spdf_task_data_load(path, SPDF_TASK_E2E_CSV, NULL), "load(NULL out)");
    assert_einval(spdf_task_data_load(path, (spdf_task_format)99, &data), "load(format 99)");
    assert_einval(spdf_task_data_load(path, (spdf_task_format)-1, &data), "load(format -1)");
    ck_assert_ptr_null(data);
    data = load_ok(path, SPDF_TASK_E2E_CSV);

    int64_t n;
    int32_t count;
    const char *text, *prompt;
    const char *const *refs;
    assert_einval(spdf_task_data_count(NULL, &n), "count(NULL)");
    assert_einval(spdf_task_data_count(data, NULL), "count(NULL out)");
    assert_einval(spdf_task_data_prompt(NULL, 0, &text), "prompt(NULL)");
    assert_einval(spdf_task_data_prompt(data, 0, NULL), "prompt(NULL out)");
    assert_einval(spdf_task_data_prompt(data, 1, &text), "prompt(item 1 of 1)");
    assert_einval(spdf_task_data_prompt(data, -1, &text), "prompt(item -1)");
    assert_einval(spdf_task_data_reference_count(NULL, 0, &count), "reference_count(NULL)");
    assert_einval(spdf_task_data_reference_count(data, 0, NULL), "reference_count(NULL out)");
    assert_einval(spdf_task_data_reference_count(data, 5, &count), "reference_count(item 5)");
    assert_einval(spdf_task_data_reference(NULL, 0, 0, &text), "reference(NULL)");
    assert_einval(spdf_task_data_reference(data, 0, 0, NULL), "reference(NULL out)");
    assert_einval(spdf_task_data_reference(data, 0, 2, &text), "reference(index 2 of 2)");
    assert_einval(spdf_task_data_reference(data, 0, -1, &text), "reference(index -1)");
    assert_einval(spdf_task_data_reference(data, 1, 0, &text), "reference(item 1)");
    assert_einval(spdf_task_data_references(NULL, 0, &refs, &count), "references(NULL)");
    assert_einval(spdf_task_data_references(data, 0, NULL, &count), "references(NULL array)");
    assert_einval(spdf_task_data_references(data, 0, &refs, NULL), "references(NULL count)");
    assert_einval(spdf_task_data_references(data, 3, &refs, &count), "references(item 3)");
    assert_einval(spdf_task_data_pair_count(NULL, &n), "pair_count(NULL)");
    assert_einval(spdf_task_data_pair_count(data, NULL), "pair_count(NULL out)");
    assert_einval(spdf_task_data_pair(NULL, 0, &prompt, &text), "pair(NULL)");
    assert_einval(spdf_task_data_pair(data, 0, NULL, &text), "pair(NULL prompt)");
    assert_einval(spdf_task_data_pair(data, 0, &prompt, NULL), "pair(NULL target)");
    assert_einval(spdf_task_data_pair(data, 2, &prompt, &text), "pair(2 of 2)");
    assert_einval(spdf_task_data_pair(data, -1, &prompt, &text), "pair(-1)");
    spdf_task_data_free(data);
    spdf_task_data_free(NULL);
    free(path);

    /* files that cannot be read are SPDF_EIO */
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing.csv", scratch_dir);
    for (int format = 0; format < 4; format++) {
        ck_assert_int_eq(spdf_task_data_load(missing, (spdf_task_format)format, &data), SPDF_EIO);
        ck_assert_ptr_nonnull(strstr(spdf_last_error(), "missing.csv"));
    }
    ck_assert_int_eq(spdf_task_data_load(scratch_dir, SPDF_TASK_E2E_CSV, &data), SPDF_EIO);
    ck_assert_int_eq(spdf_task_data_load(scratch_dir, SPDF_TASK_JSONL, &data), SPDF_EIO);
    char empty_dir[4200];
    snprintf(empty_dir, sizeof empty_dir, "%s/empty", scratch_dir);
    ck_assert_int_eq(mkdir(empty_dir, 0755), 0);
    ck_assert_int_eq(spdf_task_data_load(empty_dir, SPDF_TASK_WEBNLG_XML, &data), SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "no *.xml"));
}
END_TEST

/* ---- the real data sets ---- */

/* Loads `relative` under the directory named by the environment variable; returns NULL (and
 * says so) when the file is absent. */
static spdf_task_data *load_real(const char *variable, const char *relative,
                                 spdf_task_format format)
{
    const char *dir = getenv(variable);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "", relative);
    if (!dir || !*dir || access(path, R_OK) != 0) {
        printf("SKIPPED %s: not present (%s)\n", relative, dir ? path : "variable unset");
        return NULL;
    }
    spdf_task_data *data = load_ok(path, format);
    printf("%s: %lld items, %lld pairs\n", relative, (long long)items_of(data),
           (long long)pairs_of(data));
    return data;
}

static void check_counts(const char *variable, const char *relative, spdf_task_format format,
                         int64_t items, int64_t pairs)
{
    spdf_task_data *data = load_real(variable, relative, format);
    if (!data) return;
    ck_assert_int_eq(items_of(data), items);
    ck_assert_int_eq(pairs_of(data), pairs);
    spdf_task_data_free(data);
}

/* Counts confirmed independently with Python's csv, json and xml.etree modules. */
START_TEST(test_real_e2e)
{
    spdf_task_data *data = load_real("SPDF_SHARED_DATA", "e2e/devset.csv", SPDF_TASK_E2E_CSV);
    if (data) {
        ck_assert_int_eq(items_of(data), 547);
        ck_assert_int_eq(pairs_of(data), 4672);
        int32_t fewest = 1000, most = 0, count;
        for (int64_t i = 0; i < 547; i++) {
            ck_assert_int_eq(spdf_task_data_reference_count(data, i, &count), SPDF_OK);
            fewest = count < fewest ? count : fewest;
            most = count > most ? count : most;
        }
        ck_assert_int_eq(fewest, 2);
        ck_assert_int_eq(most, 43);
        assert_pair(data, 0, "name[Alimentum], area[city centre], familyFriendly[no]",
                    "There is a place in the city centre, Alimentum, that is not family-friendly.");
        spdf_task_data_free(data);
    }
    check_counts("SPDF_SHARED_DATA", "e2e/testset_w_refs.csv", SPDF_TASK_E2E_CSV, 630, 4693);
    check_counts("SPDF_SHARED_DATA", "e2e/testset.csv", SPDF_TASK_E2E_CSV, 630, 0);
    /* the copies shipped with the examples */
    check_counts("SPDF_EXAMPLE_DATA", "e2e/devset.csv", SPDF_TASK_E2E_CSV, 547, 4672);
    check_counts("SPDF_EXAMPLE_DATA", "e2e/testset_w_refs.csv", SPDF_TASK_E2E_CSV, 630, 4693);
}
END_TEST

START_TEST(test_real_webnlg_and_dart)
{
    check_counts("SPDF_SHARED_DATA", "webnlg/dev", SPDF_TASK_WEBNLG_XML, 872, 2268);
    check_counts("SPDF_SHARED_DATA", "webnlg/train", SPDF_TASK_WEBNLG_XML, 6940, 18102);
    check_counts("SPDF_SHARED_DATA", "webnlg/testdata_with_lex.xml", SPDF_TASK_WEBNLG_XML, 1862,
                 4928);
    /* 12552 <lex> elements, one of them empty (<lex ... lid="Id2" /> on line 888) */
    check_counts("SPDF_SHARED_DATA", "dart/dart-v1.1.1-full-test.xml", SPDF_TASK_WEBNLG_XML, 5097,
                 12551);
    spdf_task_data *data =
        load_real("SPDF_SHARED_DATA", "dart/dart-v1.1.1-full-dev.json", SPDF_TASK_DART_JSON);
    if (data) {
        ck_assert_int_eq(items_of(data), 2768);
        ck_assert_int_eq(pairs_of(data), 6980);
        assert_pair(data, 0,
                    "Mars Hill College | JOINED | 1973 && Mars Hill College | LOCATION | Mars "
                    "Hill, North Carolina",
                    "A school from Mars Hill, North Carolina, joined in 1973.");
        spdf_task_data_free(data);
    }
}
END_TEST

static Suite *task_data_suite(void)
{
    Suite *suite = suite_create("task-data");
    TCase *formats = tcase_create("formats");
    tcase_add_checked_fixture(formats, scratch_create, scratch_remove);
    tcase_add_test(formats, test_e2e_csv_quirks);
    tcase_add_test(formats, test_e2e_csv_errors);
    tcase_add_test(formats, test_jsonl_quirks);
    tcase_add_test(formats, test_jsonl_errors);
    tcase_add_test(formats, test_dart_json);
    tcase_add_test(formats, test_webnlg_xml);
    tcase_add_test(formats, test_webnlg_xml_errors);
    tcase_add_test(formats, test_invalid_arguments);
    suite_add_tcase(suite, formats);
    TCase *real = tcase_create("real-data");
    tcase_set_timeout(real, 120);
    tcase_add_test(real, test_real_e2e);
    tcase_add_test(real, test_real_webnlg_and_dart);
    suite_add_tcase(suite, real);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(task_data_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
