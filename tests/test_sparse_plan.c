/* Kernel plans of sparse layers: every plan choice forced on the native and the xsmm backends
 * against the reference backend; the cost model never plans a product slower than the dense GEMM
 * by its own estimate, and MEASURE never by its own timing; the JIT code budget; and through the
 * public API, whole runs across the transition on each plan against ref, the per-layer report,
 * an older struct_size, and checkpoints that keep the plan so a resumed run is bit-identical. */
#include "backend/backend.h"
#include "backend/sparse_plan.h"
#include "common/sparse_problem.h"
#include "spdf.h"
#ifdef SPDF_HAVE_XSMM
#include "backend/xsmm_sparse.h"
#endif

#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whole-model losses against ref: relative difference allowed at every step. */
#define LOSS_TOLERANCE 1e-5

enum { I = SPDF_SPARSE_KERNEL_INDEX, J = SPDF_SPARSE_KERNEL_JIT, D = SPDF_SPARSE_KERNEL_DENSE,
       A = SPDF_SPARSE_KERNEL_AUTO };

static spdf_sparse_plan_request forced(int forward, int backward_data, int backward_weight)
{
    return (spdf_sparse_plan_request){
        .num_threads = 2,
        .mode = SPDF_SPARSE_PLAN_ESTIMATE,
        .forced = {forward, backward_data, backward_weight},
        .source = SPDF_SPARSE_PLANNED_FORCED,
        .tokens = 256,
    };
}

/* The backends with kernel plans that run here. */
static int planned_backends(const spdf_backend_ops *out[2])
{
    int count = 0;
    out[count++] = &spdf_backend_native;
#ifdef SPDF_HAVE_XSMM
    if (spdf_backend_xsmm.available()) out[count++] = &spdf_backend_xsmm;
    else printf("SKIPPED (part): the xsmm backend cannot run on this machine\n");
#endif
    return count;
}

/* ---- layers ---- */

START_TEST(forced_choices_match_reference)
{
    const spdf_backend_ops *backends[2];
    const int nb = planned_backends(backends);
    const struct { int64_t rows, cols; double density; int64_t N; } cases[] = {
        {100, 260, 0.5, 100}, {1152, 384, 0.25, 129}, {64, 64, 1.0, 7}, {33, 300, 0.1, 1},
    };
    const int choices[][3] = {{I, I, I}, {D, D, D}, {D, I, D}, {I, D, I}, {J, J, I}, {J, D, D}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        test_problem pb = test_make_problem(cases[c].rows, cases[c].cols, cases[c].density, cases[c].N);
        test_results ref = test_run_backend(&spdf_backend_ref, &pb, 2, NULL);
        for (int b = 0; b < nb; b++)
            for (size_t k = 0; k < sizeof choices / sizeof choices[0]; k++) {
                const int *ch = choices[k];
                if ((ch[0] == J || ch[1] == J) && backends[b] == &spdf_backend_native) continue;
                const spdf_sparse_plan_request request = forced(ch[0], ch[1], ch[2]);
                test_results got = test_run_backend(backends[b], &pb, 2, &request);
                char label[96];
                snprintf(label, sizeof label, "%s plan %s/%s/%s", backends[b]->name,
                         ch[0] == I ? "index" : ch[0] == J ? "jit" : "dense",
                         ch[1] == I ? "index" : ch[1] == J ? "jit" : "dense",
                         ch[2] == I ? "index" : "dense");
                test_check_results(&pb, &got, &ref, label);
                test_results one = test_run_backend(backends[b], &pb, 1, &request);
                ck_assert_msg(test_same_bits(&got, &one, &pb), "%s: 1 and 2 threads differ", label);
                test_free_results(&one);
                test_free_results(&got);
            }
        test_free_results(&ref);
        test_free_problem(&pb);
    }
}
END_TEST

/* The reported plan of a prepared layer, planned by `request`. */
static spdf_sparse_plan_report plan_layer(const spdf_backend_ops *ops, const test_pattern *pt,
                                          const spdf_sparse_plan_request *request,
                                          spdf_status *status)
{
    void *layer = ops->sparse_prepare(&pt->p);
    ck_assert_ptr_nonnull(layer);
    *status = ops->sparse_plan(layer, request);
    spdf_sparse_plan_report report;
    ops->sparse_kernel_info(layer, &report);
    ops->sparse_release(layer);
    return report;
}

START_TEST(estimate_is_never_slower_than_dense)
{
    const spdf_backend_ops *backends[2];
    const int nb = planned_backends(backends);
    const double densities[] = {0.05, 0.25, 0.5, 0.75, 0.9, 1.0};
    for (int b = 0; b < nb; b++)
        for (size_t d = 0; d < sizeof densities / sizeof densities[0]; d++) {
            test_pattern pt = test_random_pattern(384, 256, densities[d]);
            spdf_status status;
            const spdf_sparse_plan_request request = forced(A, A, A);
            const spdf_sparse_plan_report r = plan_layer(backends[b], &pt, &request, &status);
            ck_assert_int_eq(status, SPDF_OK);
            ck_assert_int_eq(r.planned_by, SPDF_SPARSE_PLANNED_ESTIMATE);
            for (int p = 0; p < SPDF_PRODUCTS; p++) {
                ck_assert_msg(r.relative_time[p] > 0.0f && r.relative_time[p] <= 1.0f,
                              "%s density %.2f product %d: %.3f of dense", backends[b]->name,
                              densities[d], p, (double)r.relative_time[p]);
                /* dense weights run on the dense GEMM, very sparse ones never do */
                if (densities[d] == 1.0) ck_assert_int_eq(r.kind[p], SPDF_SPARSE_KERNEL_DENSE);
                if (densities[d] <= 0.25) ck_assert_int_ne(r.kind[p], SPDF_SPARSE_KERNEL_DENSE);
                ck_assert_int_ne(r.kind[p], SPDF_SPARSE_KERNEL_JIT); /* slower in the model */
            }
            test_free_pattern(&pt);
        }
}
END_TEST

START_TEST(measure_times_the_candidates)
{
    const spdf_backend_ops *backends[2];
    const int nb = planned_backends(backends);
    test_pattern pt = test_random_pattern(256, 384, 0.25);
    for (int b = 0; b < nb; b++) {
        spdf_sparse_plan_request request = forced(A, A, A);
        request.mode = SPDF_SPARSE_PLAN_MEASURE;
        spdf_status status;
        const spdf_sparse_plan_report r = plan_layer(backends[b], &pt, &request, &status);
        ck_assert_int_eq(status, SPDF_OK);
        ck_assert_int_eq(r.planned_by, SPDF_SPARSE_PLANNED_MEASURE);
        for (int p = 0; p < SPDF_PRODUCTS; p++) {
            /* the dense GEMM is always timed, so the winner is at most as slow */
            ck_assert(r.relative_time[p] > 0.0f && r.relative_time[p] <= 1.0f);
            ck_assert((r.kind[p] == SPDF_SPARSE_KERNEL_DENSE) == (r.relative_time[p] == 1.0f));
        }
        /* forcing every product reports the request's source, and only forced kernels */
        request = forced(D, I, D);
        const spdf_sparse_plan_report f = plan_layer(backends[b], &pt, &request, &status);
        ck_assert_int_eq(status, SPDF_OK);
        ck_assert_int_eq(f.planned_by, SPDF_SPARSE_PLANNED_FORCED);
        ck_assert((int)f.kind[0] == D && (int)f.kind[1] == I && (int)f.kind[2] == D);
    }
    /* native has no JIT kernels, and no backend has them for the weight gradient */
    spdf_sparse_plan_request jit = forced(J, A, A);
    spdf_status status;
    plan_layer(&spdf_backend_native, &pt, &jit, &status);
    ck_assert_int_eq(status, SPDF_EUNSUPPORTED);
    for (int b = 0; b < nb; b++) {
        jit = forced(A, A, J);
        plan_layer(backends[b], &pt, &jit, &status);
        ck_assert_int_eq(status, SPDF_EUNSUPPORTED);
    }
    test_free_pattern(&pt);
}
END_TEST

#ifdef SPDF_HAVE_XSMM
static void set_jit_budget(const char *bytes) { setenv(XSMM_SPARSE_JIT_BUDGET_ENV, bytes, 1); }

/* JIT kernels are built only when chosen, within the budget, and their code is accounted. */
START_TEST(jit_budget_bounds_the_code)
{
    if (!spdf_backend_xsmm.available()) {
        printf("SKIPPED: the xsmm backend cannot run on this machine\n");
        return;
    }
    const spdf_backend_ops *x = &spdf_backend_xsmm;
    test_pattern pt = test_random_pattern(256, 384, 0.25);
    const size_t before = xsmm_sparse_jit_bytes_in_use();
    const spdf_sparse_plan_request automatic = forced(A, A, A), jit = forced(J, J, I);
    void *index = x->sparse_prepare(&pt.p);
    ck_assert_int_eq(x->sparse_plan(index, &automatic), SPDF_OK);
    ck_assert_uint_eq(xsmm_sparse_jit_bytes_in_use(), before); /* not chosen: nothing built */
    set_jit_budget("1000"); /* far too small for this layer */
    void *small = x->sparse_prepare(&pt.p);
    ck_assert_int_eq(x->sparse_plan(small, &jit), SPDF_EUNSUPPORTED);
    set_jit_budget("1099511627776");
    void *built = x->sparse_prepare(&pt.p);
    ck_assert_int_eq(x->sparse_plan(built, &jit), SPDF_OK);
    spdf_sparse_plan_report r;
    x->sparse_kernel_info(built, &r);
    ck_assert_uint_gt(r.code_bytes, 0);
    ck_assert_uint_eq(xsmm_sparse_jit_bytes_in_use(), before + r.code_bytes);
    /* A budget the first layer already uses up leaves none for the next. */
    char budget[32];
    snprintf(budget, sizeof budget, "%zu", before + r.code_bytes + r.code_bytes / 2);
    set_jit_budget(budget);
    void *second = x->sparse_prepare(&pt.p);
    ck_assert_int_eq(x->sparse_plan(second, &jit), SPDF_EUNSUPPORTED);
    /* Planning the layer away from JIT frees its code. */
    ck_assert_int_eq(x->sparse_plan(built, &automatic), SPDF_OK);
    ck_assert_uint_eq(xsmm_sparse_jit_bytes_in_use(), before);
    x->sparse_release(second);
    x->sparse_release(built);
    x->sparse_release(small);
    x->sparse_release(index);
    unsetenv(XSMM_SPARSE_JIT_BUDGET_ENV);
    test_free_pattern(&pt);
}
END_TEST
#endif

/* ---- the whole model through the public API ---- */

enum { MV = 97, MMAXT = 32, ML = 2, MNH = 4, MC = 144, MB = 3, MT = 23 };
enum { DENSE_STEPS = 3, SPARSE_STEPS = 5, FINE_STEPS = 3, ALL_STEPS = 11 };

typedef struct run {
    spdf_context *ctx;
    spdf_model *model;
    spdf_optimizer *opt;
    spdf_mask *mask;
    spdf_phase *phase;
} run;

/* A context on `backend`; 0 if it cannot run here. */
static int open_run(run *r, const char *backend, int threads)
{
    memset(r, 0, sizeof *r);
    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.backend = backend;
    cc.num_threads = threads;
    if (spdf_context_create(&cc, &r->ctx) != SPDF_OK) return 0;
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = MV;
    mc.max_seq_len = MMAXT;
    mc.num_layers = ML;
    mc.num_heads = MNH;
    mc.channels = MC;
    ck_assert_int_eq(spdf_model_create(r->ctx, &mc, &r->model), SPDF_OK);
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 1e-3f;
    ck_assert_int_eq(spdf_optimizer_create(r->model, &oc, &r->opt), SPDF_OK);
    return 1;
}

static void close_run(run *r)
{
    spdf_phase_free(r->phase);
    spdf_mask_free(r->mask);
    spdf_optimizer_free(r->opt);
    spdf_model_free(r->model);
    spdf_context_free(r->ctx);
}

static float train_step(run *r)
{
    int32_t tokens[MB * MT], targets[MB * MT];
    for (int i = 0; i < MB * MT; i++) {
        tokens[i] = (int32_t)((i * 37 + 11) % MV);
        targets[i] = (int32_t)((i * 53 + 5) % MV);
    }
    float loss;
    ck_assert_int_eq(spdf_model_forward(r->model, tokens, targets, NULL, MB, MT, &loss), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(r->model), SPDF_OK);
    ck_assert_int_eq(spdf_optimizer_step(r->opt, NULL, NULL), SPDF_OK);
    return loss;
}

static spdf_sparse_plan_config plan_config(int mode, int forward, int backward_data,
                                           int backward_weight)
{
    spdf_sparse_plan_config c;
    spdf_sparse_plan_config_init(&c);
    c.mode = mode;
    c.forward = forward;
    c.backward_data = backward_data;
    c.backward_weight = backward_weight;
    return c;
}

/* The losses of a dense -> sparse (75 %) -> dense run planned by `plan`; 0 if the backend
 * cannot run here. */
static int train_phases(const char *backend, int threads, const spdf_sparse_plan_config *plan,
                        float losses[ALL_STEPS])
{
    run r;
    if (!open_run(&r, backend, threads)) return 0;
    if (plan) ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, plan), SPDF_OK);
    for (int s = 0; s < ALL_STEPS; s++) {
        if (s == DENSE_STEPS) {
            ck_assert_int_eq(spdf_mask_create(r.model, SPDF_MASK_RANDOM, 0.75f, 7, &r.mask), SPDF_OK);
            ck_assert_int_eq(spdf_phase_create(r.model, r.opt, SPDF_PHASE_SPARSE, r.mask, &r.phase),
                             SPDF_OK);
        }
        if (s == DENSE_STEPS + SPARSE_STEPS)
            ck_assert_int_eq(spdf_phase_transition(r.phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_OK);
        losses[s] = train_step(&r);
    }
    close_run(&r);
    return 1;
}

START_TEST(model_runs_on_every_plan_match_reference)
{
    float ref[ALL_STEPS], got[ALL_STEPS], again[ALL_STEPS];
    ck_assert(train_phases("ref", 2, NULL, ref));
    ck_assert_float_lt(ref[DENSE_STEPS + SPARSE_STEPS - 1], ref[DENSE_STEPS]); /* it learns */
    const struct { const char *backend; spdf_sparse_plan_config plan; } runs[] = {
        {"native", plan_config(SPDF_SPARSE_PLAN_ESTIMATE, A, A, A)},
        {"native", plan_config(SPDF_SPARSE_PLAN_ESTIMATE, D, D, D)},
        {"native", plan_config(SPDF_SPARSE_PLAN_MEASURE, A, A, A)},
        {"xsmm", plan_config(SPDF_SPARSE_PLAN_ESTIMATE, A, A, A)},
        {"xsmm", plan_config(SPDF_SPARSE_PLAN_ESTIMATE, J, J, D)},
        {"xsmm", plan_config(SPDF_SPARSE_PLAN_ESTIMATE, D, I, I)},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        if (!train_phases(runs[i].backend, 2, &runs[i].plan, got)) {
            printf("SKIPPED (part): the %s backend cannot run here\n", runs[i].backend);
            continue;
        }
        for (int s = 0; s < ALL_STEPS; s++)
            ck_assert_msg(fabsf(got[s] - ref[s]) <= LOSS_TOLERANCE * fabsf(ref[s]),
                          "%s plan %zu step %d: loss %.7f, ref %.7f", runs[i].backend, i, s,
                          (double)got[s], (double)ref[s]);
        if (runs[i].plan.mode == SPDF_SPARSE_PLAN_MEASURE) continue; /* timing decides */
        ck_assert(train_phases(runs[i].backend, 1, &runs[i].plan, again));
        ck_assert_msg(memcmp(got, again, sizeof got) == 0, "%s plan %zu: 1 and 2 threads differ",
                      runs[i].backend, i);
    }
}
END_TEST

START_TEST(model_reports_each_layers_plan)
{
    run r;
    ck_assert(open_run(&r, "native", 1));
    spdf_sparse_kernel_info ki = {.struct_size = sizeof ki};
    ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, 0, &ki), SPDF_ESTATE); /* dense */
    const spdf_sparse_plan_config plan = plan_config(SPDF_SPARSE_PLAN_ESTIMATE, D, A, I);
    ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, &plan), SPDF_OK);
    spdf_sparse_plan_config back = {.struct_size = sizeof back};
    ck_assert_int_eq(spdf_model_get_sparse_plan(r.model, &back), SPDF_OK);
    ck_assert(back.forward == D && back.backward_data == A && back.backward_weight == I);
    ck_assert_int_eq(spdf_mask_create(r.model, SPDF_MASK_RANDOM, 0.75f, 3, &r.mask), SPDF_OK);
    ck_assert_int_eq(spdf_phase_create(r.model, r.opt, SPDF_PHASE_SPARSE, r.mask, &r.phase), SPDF_OK);
    int32_t layers;
    spdf_mask_num_layers(r.mask, &layers);
    for (int32_t l = 0; l < layers; l++) {
        ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, l, &ki), SPDF_OK);
        ck_assert(ki.forward == D && ki.kind == D && ki.backward_weight == I);
        ck_assert_int_eq(ki.backward_data, I); /* 25 % density: the index kernels */
        ck_assert_int_eq(ki.planned_by, SPDF_SPARSE_PLANNED_ESTIMATE);
        ck_assert_float_eq(ki.forward_time, 1.0f);
        ck_assert(ki.backward_data_time > 0.0f && ki.backward_data_time < 1.0f);
        ck_assert_ptr_nonnull(ki.isa);
        ck_assert(ki.vector_floats == 8 || ki.vector_floats == 16);
        ck_assert_int_eq(ki.code_bytes, 0);
    }
    /* Planning again while sparse applies at once. */
    const spdf_sparse_plan_config all_index = plan_config(SPDF_SPARSE_PLAN_ESTIMATE, I, I, I);
    ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, &all_index), SPDF_OK);
    ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, 0, &ki), SPDF_OK);
    ck_assert(ki.forward == I && ki.backward_data == I && ki.planned_by == SPDF_SPARSE_PLANNED_FORCED);
    /* A caller built against the first layout (up to code_bytes) gets nothing written past it. */
    unsigned char old[sizeof(spdf_sparse_kernel_info)];
    memset(old, 0xA5, sizeof old);
    const size_t old_size = offsetof(spdf_sparse_kernel_info, forward);
    memcpy(old, &old_size, sizeof old_size);
    ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, 0, (spdf_sparse_kernel_info *)(void *)old),
                     SPDF_OK);
    for (size_t i = old_size; i < sizeof old; i++) ck_assert_uint_eq(old[i], 0xA5);
    ck_assert_int_eq(((spdf_sparse_kernel_info *)(void *)old)->kind, I);
    /* Bad arguments. */
    ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, layers, &ki), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, -1, &ki), SPDF_EINVAL);
    spdf_sparse_plan_config bad = plan_config(7, A, A, A);
    ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, &bad), SPDF_EINVAL);
    bad = plan_config(SPDF_SPARSE_PLAN_ESTIMATE, A, A, J);
    ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, &bad), SPDF_EUNSUPPORTED);
    bad = plan_config(SPDF_SPARSE_PLAN_ESTIMATE, J, A, A); /* native has no JIT */
    ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, &bad), SPDF_EUNSUPPORTED);
    ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, 0, &ki), SPDF_OK);
    ck_assert_int_eq(ki.forward, I); /* the failed call changed nothing */
    ck_assert_int_eq(spdf_model_set_sparse_plan(NULL, &all_index), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, NULL), SPDF_EINVAL);
    close_run(&r);
}
END_TEST

/* A checkpoint taken in the sparse phase restores the plan, and the resumed run computes the
 * uninterrupted one's losses bit for bit. */
START_TEST(checkpoint_keeps_the_plan)
{
    char path[] = "/tmp/spdf-plan-XXXXXX";
    const int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    const spdf_sparse_plan_config plan = plan_config(SPDF_SPARSE_PLAN_ESTIMATE, D, I, D);
    float straight[ALL_STEPS], resumed[ALL_STEPS];
    run r;
    ck_assert(open_run(&r, "native", 2));
    ck_assert_int_eq(spdf_model_set_sparse_plan(r.model, &plan), SPDF_OK);
    ck_assert_int_eq(spdf_mask_create(r.model, SPDF_MASK_RANDOM, 0.75f, 5, &r.mask), SPDF_OK);
    ck_assert_int_eq(spdf_phase_create(r.model, r.opt, SPDF_PHASE_SPARSE, r.mask, &r.phase), SPDF_OK);
    for (int s = 0; s < ALL_STEPS; s++) {
        if (s == 4) ck_assert_int_eq(spdf_checkpoint_save(path, r.model, r.opt, NULL), SPDF_OK);
        straight[s] = train_step(&r);
    }
    close_run(&r);
    /* Loaded into a model whose default plan (ESTIMATE) would choose index kernels here. */
    memset(&r, 0, sizeof r);
    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.backend = "native";
    cc.num_threads = 2;
    ck_assert_int_eq(spdf_context_create(&cc, &r.ctx), SPDF_OK);
    ck_assert_int_eq(spdf_checkpoint_load(path, r.ctx, &r.model, &r.opt, &r.phase, NULL), SPDF_OK);
    spdf_sparse_kernel_info ki = {.struct_size = sizeof ki};
    ck_assert_int_eq(spdf_model_sparse_kernel_info(r.model, 0, &ki), SPDF_OK);
    ck_assert_int_eq(ki.planned_by, SPDF_SPARSE_PLANNED_CHECKPOINT);
    ck_assert(ki.forward == D && ki.backward_data == I && ki.backward_weight == D);
    for (int s = 4; s < ALL_STEPS; s++) resumed[s] = train_step(&r);
    ck_assert_msg(memcmp(straight + 4, resumed + 4, sizeof(float) * (ALL_STEPS - 4)) == 0,
                  "the resumed run differs from the uninterrupted one");
    close_run(&r);
    unlink(path);
}
END_TEST

static Suite *sparse_plan_suite(void)
{
    Suite *s = suite_create("sparse-plan");
    TCase *layers = tcase_create("layers");
    tcase_set_timeout(layers, 900);
    tcase_add_test(layers, forced_choices_match_reference);
    tcase_add_test(layers, estimate_is_never_slower_than_dense);
    tcase_add_test(layers, measure_times_the_candidates);
#ifdef SPDF_HAVE_XSMM
    tcase_add_test(layers, jit_budget_bounds_the_code);
#endif
    suite_add_tcase(s, layers);
    TCase *model = tcase_create("model");
    tcase_set_timeout(model, 900);
    tcase_add_test(model, model_runs_on_every_plan_match_reference);
    tcase_add_test(model, model_reports_each_layers_plan);
    tcase_add_test(model, checkpoint_keeps_the_plan);
    suite_add_tcase(s, model);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(sparse_plan_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
