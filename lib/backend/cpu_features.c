/* Run-time CPU feature detection.  GCC's and clang's __builtin_cpu_supports read CPUID and check
 * that the operating system saves the wider registers (XCR0), so a reported set is usable. */
#include "backend/cpu_features.h"

#include <pthread.h>

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static int supported[CPU_ISA_COUNT];

static void detect(void)
{
    supported[CPU_ISA_PORTABLE] = 1;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    supported[CPU_ISA_AVX2] = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    supported[CPU_ISA_AVX512] = supported[CPU_ISA_AVX2] && __builtin_cpu_supports("avx512f");
#endif
}

int cpu_isa_supported(cpu_isa isa)
{
    if (isa < 0 || isa >= CPU_ISA_COUNT) return 0;
    pthread_once(&detect_once, detect);
    return supported[isa];
}

cpu_isa cpu_widest_isa(void)
{
    cpu_isa widest = CPU_ISA_PORTABLE;
    for (int isa = CPU_ISA_PORTABLE; isa < CPU_ISA_COUNT; isa++)
        if (cpu_isa_supported((cpu_isa)isa)) widest = (cpu_isa)isa;
    return widest;
}

const char *cpu_isa_name(cpu_isa isa)
{
    switch (isa) {
    case CPU_ISA_PORTABLE: return "portable";
    case CPU_ISA_AVX2: return "avx2";
    case CPU_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}
