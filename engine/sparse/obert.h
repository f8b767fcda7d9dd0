/*
 * obert.h - second-order pruning, the pruning-method table's second row
 * (method = obert): the Optimal BERT Surgeon of Kurtic et al. (2022).
 *
 * The weights of each prunable matrix, in row-major order, are cut into
 * blocks of B consecutive weights (the last one of a matrix may be
 * shorter). For each block the inverse of the empirical Fisher
 *
 *     F = lambda I + (1/m) sum_i g_i g_i^T
 *
 * over the last m gradients g_i (the block's slice of each step's
 * gradient) is kept as F^-1, built by m Woodbury rank-one updates from
 * I / lambda, one gradient at a time, so that no gradient is stored:
 *
 *     F^-1 <- F^-1 - (F^-1 g)(F^-1 g)^T / (m + g^T F^-1 g)
 *
 * A weight's saliency, what pruning it costs to second order, is
 * rho_q = w_q^2 / (2 [F^-1]_qq); a 1x4 block Q's is
 * w_Q^T ([F^-1]_QQ)^-1 w_Q / 2. The lowest are pruned to the cubic
 * schedule's target, and the remaining weights of a block take the update
 * of the quadratic model that holds every pruned weight at zero (obert_update
 * = joint: for one weight q, dw = -F^-1 e_q w_q / [F^-1]_qq; for several,
 * the same one at a time with F^-1 restricted after each, which the
 * paper's sum of single-weight updates, obert_update = summed, only
 * approximates; a 1x4 block Q's is -F^-1_{:,Q} ([F^-1]_QQ)^-1 w_Q). The estimate
 * starts afresh after each pruning step: the gradients of the m steps before
 * the next one make it. With no gradient yet F^-1 is I / lambda and the
 * saliency is w^2 lambda / 2: magnitude pruning.
 *
 * Memory: B floats per prunable weight (bert-base at B = 50: 17 GB), said
 * before a stage starts and refused with the figure when it does not fit.
 */
#ifndef POFA_SPARSE_OBERT_H
#define POFA_SPARSE_OBERT_H

#include "engine/sparse/sparse.h"

/* the math of one block, n <= B weights, F^-1 an n x n row-major matrix */

/* F^-1 = I / lambda */
void pofa_obert_block_reset(float *finv, int n, double lambda);
/* one gradient g (n values) of the m the estimate averages: F^-1 updated by
 * Woodbury's identity; scratch: n floats */
void pofa_obert_block_add(float *finv, int n, const float *g, int m, float *scratch);
/* the saliency of each unit of width consecutive weights (width 1 or 4;
 * n a multiple of width) into rho (n / width values) */
void pofa_obert_block_saliency(const float *finv, int n, const float *w, int width, float *rho);
/* how the weights kept are updated when others are pruned (obert_update) */
enum { POFA_OBERT_JOINT, POFA_OBERT_SUMMED, POFA_OBERT_NONE, POFA_OBERT_UPDATE_COUNT };
/* the update of the block's weights w for the units whose mask is 0:
 * POFA_OBERT_JOINT the optimum with every pruned unit held at zero
 * (-F^-1_{:,P} ([F^-1]_PP)^-1 w_P over the pruned weights P, one solve),
 * POFA_OBERT_SUMMED the paper's sum over the newly pruned units of
 * -F^-1_{:,Q} ([F^-1]_QQ)^-1 w_Q; the pruned weights are zeroed after.
 * finv is left as it is. scratch: n (n + 1) doubles */
void pofa_obert_block_update(const float *finv, int n, float *w, const unsigned char *mask, int width, int how,
                             double *scratch);

/* the table row's hooks (sparse.c's pofa_prune_methods[POFA_PRUNE_OBERT]) */
size_t pofa_obert_memory(pofa_model *m, const pofa_gmp *g);
/* "B = 8 weights a block, m = 15 gradients an estimate, dampening 1e-07":
 * what the stage runs with, defaults resolved */
void pofa_obert_settings(pofa_model *m, const pofa_gmp *g, char *buf, size_t n);
int pofa_obert_init(pofa_masks *mk, const pofa_gmp *g, pofa_err *err);
void pofa_obert_score(const pofa_masks *mk, const pofa_tensor *t, int width, float *score);
int pofa_obert_grads(pofa_masks *mk, const pofa_gmp *g, int64_t step, pofa_err *err);
void pofa_obert_after_prune(pofa_masks *mk, const pofa_gmp *g);
void pofa_obert_free(pofa_masks *mk);
int pofa_obert_save(const pofa_masks *mk, const char *path, pofa_err *err);
int pofa_obert_load(pofa_masks *mk, const char *path, pofa_err *err);
/* the block size a model gets by default: B = 50, the paper's, but no
 * more than half the gradients of one estimate (rounded up to a multiple
 * of the pattern's width), lower until its memory fits a third of what
 * the machine has free */
int pofa_obert_default_block(pofa_model *m, const pofa_gmp *g);
/* the memory a model of config c would need (as pofa_obert_memory for the
 * model with its pooler), before any model is made; its block size into
 * *block when not NULL */
size_t pofa_obert_memory_cfg(const pofa_config *c, const pofa_gmp *g, int *block);
/* 0 when need bytes fit in 80% of the memory free now; else
 * POFA_ERR_INPUT with the figures and a block size that would fit */
int pofa_obert_fits(size_t need, int B, pofa_err *err);

#endif
