/*
 * cpu.h - which vector code this CPU runs. One binary carries a portable
 * C path and, on x86-64, AVX2+FMA and AVX-512 paths (compiled with their
 * own flags, in their own files); the best the CPU supports is chosen at
 * run time, and POFA_CPU=portable|avx2|avx512|avx512-vnni|avx512-bf16 (or
 * pofa_cpu_use) picks a lower one, for the tests and the benchmarks.
 */
#ifndef POFA_KERNELS_CPU_H
#define POFA_KERNELS_CPU_H

enum pofa_cpu_path {
	POFA_CPU_PORTABLE,      /* C the compiler vectorises for the baseline ISA */
	POFA_CPU_AVX2,          /* AVX2 + FMA + F16C */
	POFA_CPU_AVX512,        /* AVX-512 F, BW, VL, DQ */
	POFA_CPU_AVX512_VNNI,   /* and VNNI's vpdpbusd */
	POFA_CPU_AVX512_BF16,   /* and BF16's vdpbf16ps: int8 models' attention */
	POFA_CPU_PATH_COUNT
};

extern const char *const pofa_cpu_path_names[]; /* POFA_CPU_PATH_COUNT of them */

/* the best path this CPU supports */
enum pofa_cpu_path pofa_cpu_best(void);
/* the path in use: the best, or a lower one named by POFA_CPU or pofa_cpu_use */
enum pofa_cpu_path pofa_cpu_path(void);
/* use path p from now on; -1 when the CPU lacks it (nothing changes) */
int pofa_cpu_use(enum pofa_cpu_path p);
/* the CPU's name ("Intel(R) Xeon(R) ...", or the machine type elsewhere) */
const char *pofa_cpu_name(void);

/* OpenBLAS's kernels in use ("Haswell", "SkylakeX", ...) */
const char *pofa_blas_core(void);
/* OpenBLAS takes a CPU it does not know (0.3.21: Sapphire Rapids) for an
 * old one and runs its SSE kernels, several times slower: the core type
 * this CPU's instructions can run ("SkylakeX", "Haswell"), when OpenBLAS
 * chose an older one; else NULL. OPENBLAS_CORETYPE set before the
 * library loads makes it take that one. */
const char *pofa_blas_core_wanted(void);

#endif
