/*
 * vec512.h - the vector type and operations of kern_simd.h for AVX-512
 * (kern_avx512.c and kern_vnni.c); see kern_simd.h for what each means.
 */
#include <immintrin.h>

#define VW 16
typedef __m512 vf;
typedef __m512i vi;
#define VF_SET1(s) _mm512_set1_ps(s)
#define VF_LOAD(p) _mm512_load_ps(p)
#define VF_LOADU(p) _mm512_loadu_ps(p)
#define VF_STORE(p, v) _mm512_store_ps(p, v)
#define VF_STOREU(p, v) _mm512_storeu_ps(p, v)
#define VF_ADD(a, b) _mm512_add_ps(a, b)
#define VF_SUB(a, b) _mm512_sub_ps(a, b)
#define VF_MUL(a, b) _mm512_mul_ps(a, b)
#define VF_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VF_MAX(a, b) _mm512_max_ps(a, b)
#define VF_MIN(a, b) _mm512_min_ps(a, b)
#define VF_RCP(a) _mm512_rcp14_ps(a)
#define VF_AND(a, b) _mm512_and_ps(a, b)
#define VF_XOR(a, b) _mm512_xor_ps(a, b)
#define VF_LT_SEL(a, b, t, f) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t)
#define VF_NAN_SEL(a, t, f) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), f, t)
#define VF_POW2(kf) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(kf), \
                                                                            _mm512_set1_epi32(127)), 23))
#define VI_SET1(i) _mm512_set1_epi32(i)
#define VI_LOAD(p) _mm512_load_si512((const void *)(p))
#define VI_MADD(acc, x, w) _mm512_add_epi32(acc, _mm512_madd_epi16(x, w))
#define VI_MADDUBS(x, w) _mm512_maddubs_epi16(x, w)
#define VI_TO_F(v) _mm512_cvtepi32_ps(v)
#define VF_DIV(a, b) _mm512_div_ps(a, b)
#define VF_SQRT(a) _mm512_sqrt_ps(a)
#define VF_RINT(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VF_TO_I(a) _mm512_cvtps_epi32(a)
#define VI_OR(a, b) _mm512_or_si512(a, b)
#define VI_AND(a, b) _mm512_and_si512(a, b)
#define VI_SUB(a, b) _mm512_sub_epi32(a, b)
#define VI_SLLI(v, n) _mm512_slli_epi32(v, n)
#define VI_STOREU(p, v) _mm512_storeu_si512((void *)(p), v)
