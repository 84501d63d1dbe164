/* The spdf command: dispatch to the subcommands, the overall --help and --version. */
#include "cli.h"
#include "options.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RUNS_MODEL = 1, TRAINS = 2 };

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    int computes; /* RUNS_MODEL: worth short OpenMP spinning; TRAINS: also saves when asked to stop */
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"tokenize", command_tokenize, 0, "encode a text file as a byte-level token file"},
    {"pretrain", command_pretrain, TRAINS, "pre-train a model, dense or sparse (--sparsity); resumable"},
    {"finetune", command_finetune, TRAINS, "fine-tune a pre-trained checkpoint on a task, dense (SPDF) or sparse"},
    {"generate", command_generate, RUNS_MODEL, "continue a prompt with a trained model"},
    {"eval", command_eval, RUNS_MODEL, "loss and perplexity on text, or BLEU and NIST on a task"},
    {"score", command_score, 0, "BLEU and NIST of system outputs against references (task files or plain text)"},
    {"flops", command_flops, 0, "training FLOPs, dense against sparse, as the SPDF paper counts them"},
    {"info", command_info, 0, "what a checkpoint holds"},
    {"export", command_export, 0, "write a checkpoint's model as Hugging Face safetensors"},
    {"import", command_import, 0, "a checkpoint from Hugging Face safetensors or an llm.c file"},
    {"demo", command_demo, TRAINS, "the SPDF experiment in miniature: Tiny Shakespeare, then E2E"},
    {"experiment", command_experiment, TRAINS,
     "the SPDF paper's grid in miniature: sizes x sparsities x tasks x fine-tuning modes; resumable"},
    {"plot", command_plot, 0, "SVG loss and learning-rate curves of a run's metrics log (--log)"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: spdf COMMAND [OPTIONS]\n       spdf --version | --help | help COMMAND\n\n"
                 "Sparse pre-training and dense fine-tuning (SPDF) of GPT-style models on the CPU.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n'spdf COMMAND --help' describes a command's options.  Exit status: 0 success, 1 runtime\n"
                 "failure, 2 usage error, 3 missing or malformed input file, 130 interrupted (state saved).\n");
}

static void print_version(void)
{
    printf("spdf %s (libspdf %s; backends:", SPDF_VERSION_STRING, spdf_version_string());
    int32_t count = 0;
    spdf_backend_count(&count);
    for (int32_t i = 0; i < count; i++) {
        const char *name = NULL;
        int32_t available = 0;
        spdf_backend_name(i, &name);
        spdf_backend_available(name, &available);
        printf(" %s%s", name, available ? "" : " (unavailable here)");
    }
    printf(")\n");
}

/* GNU OpenMP reads its waiting policy once, when the runtime loads, before main.  Workers that
 * spin long (the default: 300,000 rounds) slow training down several times over when another
 * process holds a core; workers that sleep at once (OMP_WAIT_POLICY=passive) pay a wake-up at
 * every parallel region, 28 % of a step on an idle machine.  A short spin measured best in both
 * cases (docs/model.md), so unless the user chose, the process runs itself again with it.
 * SIGINT and SIGTERM are held across the exec (the mask and pending signals survive it): the
 * process run again releases them once a training command's handlers are installed, so that a
 * stop request in between saves like any other instead of killing the run. */
static void prefer_short_spinning(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
    cli_signals_hold();
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the runtime's default policy */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || (strcmp(name, "help") == 0 && argc == 2)) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        print_version();
        return EXIT_OK;
    }
    int help_for = strcmp(name, "help") == 0;
    if (help_for) name = argv[2];
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (strcmp(name, subcommands[i].name) != 0) continue;
        char command_name[64];
        snprintf(command_name, sizeof command_name, "spdf %s", subcommands[i].name);
        cli_set_command(command_name);
        if (help_for) {
            char *help_argv[] = {argv[2], (char *)"--help", NULL};
            return subcommands[i].run(2, help_argv);
        }
        if (subcommands[i].computes) {
            prefer_short_spinning(argv);
            if (subcommands[i].computes == TRAINS) cli_signals_install();
            cli_signals_release(); /* held before the exec (or it failed) */
        }
        return subcommands[i].run(argc - 1, argv + 1);
    }
    const char *meant = NULL;
    int best = strlen(name) >= 5 ? 3 : 2;
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        const int distance = options_edit_distance(name, strlen(name), subcommands[i].name);
        if (distance < best) {
            best = distance;
            meant = subcommands[i].name;
        }
    }
    if (meant) cli_error("unknown command '%s'; did you mean '%s'? (see 'spdf --help')", name, meant);
    else cli_error("unknown command '%s' (see 'spdf --help')", name);
    return EXIT_USAGE;
}
