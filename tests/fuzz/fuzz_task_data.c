/* Task files: spdf_task_data_load on any bytes, in the format FUZZ_TASK_FORMAT names (built once
 * per format: E2E CSV, WebNLG XML, DART JSON, JSON Lines).  Whatever loads must keep the header's
 * promises: UTF-8 strings, no empty prompt or reference, one training pair per reference. */
#include "fuzz_support.h"

#include <string.h>

#ifndef FUZZ_TASK_FORMAT
#error "FUZZ_TASK_FORMAT must name an spdf_task_format"
#endif

static void check_text(const char *text, int may_be_empty, const char *what, int64_t item)
{
    if (!text) fuzz_fail("item %lld: %s is NULL", (long long)item, what);
    const size_t length = strlen(text);
    if (!may_be_empty && length == 0) fuzz_fail("item %lld: empty %s", (long long)item, what);
    if (!fuzz_is_utf8((const uint8_t *)text, length))
        fuzz_fail("item %lld: %s is not UTF-8", (long long)item, what);
}

static void check_items(const spdf_task_data *data)
{
    int64_t items = 0, pairs = 0, references_in_all = 0;
    if (spdf_task_data_count(data, &items) != SPDF_OK || spdf_task_data_pair_count(data, &pairs) != SPDF_OK)
        fuzz_fail("loaded task data does not answer: %s", spdf_last_error());
    for (int64_t item = 0; item < items; item++) {
        const char *prompt = NULL;
        int32_t count = -1, listed = -1;
        const char *const *references = NULL;
        if (spdf_task_data_prompt(data, item, &prompt) != SPDF_OK ||
            spdf_task_data_reference_count(data, item, &count) != SPDF_OK ||
            spdf_task_data_references(data, item, &references, &listed) != SPDF_OK)
            fuzz_fail("item %lld does not answer: %s", (long long)item, spdf_last_error());
        check_text(prompt, 0, "prompt", item);
        if (count < 0 || listed != count) fuzz_fail("item %lld: %d references, %d listed", (long long)item, count, listed);
        for (int32_t r = 0; r < count; r++) {
            const char *text = NULL;
            if (spdf_task_data_reference(data, item, r, &text) != SPDF_OK || text != references[r])
                fuzz_fail("item %lld: reference %d differs from its listing", (long long)item, r);
            check_text(text, 0, "reference", item);
        }
        references_in_all += count;
    }
    if (pairs != references_in_all)
        fuzz_fail("%lld pairs for %lld references", (long long)pairs, (long long)references_in_all);
    for (int64_t pair = 0; pair < pairs; pair++) {
        const char *prompt = NULL, *target = NULL;
        if (spdf_task_data_pair(data, pair, &prompt, &target) != SPDF_OK)
            fuzz_fail("pair %lld does not answer: %s", (long long)pair, spdf_last_error());
        check_text(prompt, 0, "pair prompt", pair);
        check_text(target, 0, "pair target", pair);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    spdf_task_data *task = NULL;
    const spdf_status status = spdf_task_data_load(path, FUZZ_TASK_FORMAT, &task);
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_task_data_load");
        if (task) fuzz_fail("spdf_task_data_load failed but wrote its output");
        return 0;
    }
    check_items(task);
    spdf_task_data_free(task);
    return 0;
}
