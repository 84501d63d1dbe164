/* Which vector instruction sets this CPU (and its operating system) can run, detected once.  The
 * kernels that have one version per instruction set choose by it at run time. */
#ifndef SPDF_CPU_FEATURES_H
#define SPDF_CPU_FEATURES_H

/* Instruction sets the library has kernels for, narrowest first. */
typedef enum cpu_isa {
    CPU_ISA_PORTABLE = 0, /* any CPU: the compiler's baseline */
    CPU_ISA_AVX2 = 1,     /* x86-64 AVX2 + FMA: 8-float vectors, 16 registers */
    CPU_ISA_AVX512 = 2,   /* x86-64 AVX-512 F: 16-float vectors, 32 registers */
    CPU_ISA_COUNT
} cpu_isa;

/* 1 if this CPU and its operating system can run code for isa. */
int cpu_isa_supported(cpu_isa isa);
/* The widest instruction set cpu_isa_supported accepts. */
cpu_isa cpu_widest_isa(void);
/* "portable", "avx2", "avx512". */
const char *cpu_isa_name(cpu_isa isa);

#endif
