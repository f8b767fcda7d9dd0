/*
 * cpu.c - run-time choice of the vector code: cpuid through the compiler's
 * __builtin_cpu_supports on x86-64, the portable path elsewhere.
 */
#include "engine/kernels/cpu.h"
#include "data/base/util.h"

#include <cblas.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

const char *const pofa_cpu_path_names[] = { "portable", "avx2", "avx512", "avx512-vnni", "avx512-bf16" };
_Static_assert(POFA_ARRAY_LEN(pofa_cpu_path_names) == POFA_CPU_PATH_COUNT, "a name per CPU path");

enum pofa_cpu_path pofa_cpu_best(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
		return POFA_CPU_PORTABLE;
	if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")))
		return POFA_CPU_AVX2;
	if (!__builtin_cpu_supports("avx512vnni"))
		return POFA_CPU_AVX512;
	return __builtin_cpu_supports("avx512bf16") ? POFA_CPU_AVX512_BF16 : POFA_CPU_AVX512_VNNI;
#else
	return POFA_CPU_PORTABLE;
#endif
}

/* -1: not chosen yet; any thread may be the first to ask */
static _Atomic int chosen = -1;

enum pofa_cpu_path pofa_cpu_path(void)
{
	int c = atomic_load(&chosen);
	if (c < 0) {
		enum pofa_cpu_path best = pofa_cpu_best(), p = best;
		const char *env = getenv("POFA_CPU");
		for (int i = 0; env && i < POFA_CPU_PATH_COUNT; i++)
			if (!strcmp(env, pofa_cpu_path_names[i]) && i <= (int)best)
				p = (enum pofa_cpu_path)i;
		c = (int)p;
		atomic_store(&chosen, c);
	}
	return (enum pofa_cpu_path)c;
}

int pofa_cpu_use(enum pofa_cpu_path p)
{
	if ((int)p < 0 || p >= POFA_CPU_PATH_COUNT || p > pofa_cpu_best())
		return -1;
	atomic_store(&chosen, (int)p);
	return 0;
}

const char *pofa_cpu_name(void)
{
	static char name[128];
	if (name[0])
		return name;
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		const char *v = strchr(line, ':');
		if (v && (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5))) {
			v++;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(name, sizeof name, "%.*s", (int)strcspn(v, "\n"), v);
			break;
		}
	}
	if (f)
		fclose(f);
	struct utsname u;
	if (!name[0])
		snprintf(name, sizeof name, "%s", uname(&u) == 0 ? u.machine : "unknown CPU");
	return name;
}

const char *pofa_blas_core(void)
{
	const char *c = openblas_get_corename();
	return c ? c : "unknown";
}

const char *pofa_blas_core_wanted(void)
{
	enum pofa_cpu_path best = pofa_cpu_best();
	if (best < POFA_CPU_AVX2)
		return NULL;
	char have[64];
	snprintf(have, sizeof have, "%s", pofa_blas_core());
	for (char *p = have; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* cores with AVX2 kernels or better: OpenBLAS knew this CPU */
	static const char *const modern[] = { "haswell", "skylakex", "cooperlake", "sapphirerapids", "zen" };
	for (size_t i = 0; i < sizeof modern / sizeof *modern; i++)
		if (!strcmp(have, modern[i]))
			return NULL;
	return best >= POFA_CPU_AVX512 ? "SkylakeX" : "Haswell";
}
