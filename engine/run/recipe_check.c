/*
 * recipe_check.c - a stage's schedule resolved to steps (and scaled by
 * run.step_scale), and the one check
 * of its knobs against each other that the recipe loader and live
 * schedule edits share (see recipe.h).
 */
#include "engine/run/recipe.h"
#include "data/base/util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int64_t pofa_steps_of(double v, int64_t total)
{
	if (v < 1.0 && v > 0.0)
		return (int64_t)llround(v * (double)total);
	return (int64_t)v;
}

/* step_scale: a count of steps times the scale, at least 1; a fraction of
 * the stage (below 1) or 0 stays as it is */
static void scale_count(double *v, double scale)
{
	if (*v >= 1.0)
		*v = fmax(1.0, round(*v * scale));
}

void pofa_stage_scale(pofa_stage *s, double scale)
{
	if (scale == 1.0 || !(scale > 0.0))
		return;
	if (s->steps > 0)
		s->steps = (int64_t)fmax(1.0, round((double)s->steps * scale));
	s->epochs *= scale;
	double ei = (double)s->eval_interval;
	scale_count(&ei, scale);
	s->eval_interval = (int64_t)ei;
	scale_count(&s->warmup, scale);
	scale_count(&s->start, scale);
	scale_count(&s->end, scale);
	scale_count(&s->every, scale);
	scale_count(&s->freeze, scale);
}

int64_t pofa_stage_total_steps(const pofa_stage *s, long ntrain)
{
	if (s->steps > 0)
		return s->steps;
	int64_t per = (ntrain + s->batch - 1) / s->batch;
	int64_t n = (int64_t)llround(s->epochs * (double)per);
	return n < 1 ? 1 : n;
}

pofa_gmp pofa_stage_gmp(const pofa_stage *s, int64_t total)
{
	pofa_gmp g = { 0 };
	g.s_init = s->initial_sparsity;
	g.s_final = s->final_sparsity;
	g.t0 = pofa_steps_of(s->start, total);
	g.t1 = pofa_steps_of(s->end, total);
	g.every = pofa_steps_of(s->every, total);
	if (g.every < 1)
		g.every = 1;
	g.freeze = pofa_steps_of(s->freeze, total);
	g.pattern = s->pattern;
	g.block = s->block;
	g.n = s->nm_n;
	g.m = s->nm_m;
	g.global = s->global;
	g.method = s->method;
	g.obert_block = s->obert_block;
	g.obert_grads = s->obert_grads;
	g.obert_damp = s->obert_damp;
	g.obert_update = s->obert_update;
	return g;
}

void pofa_stage_kd_map(const pofa_stage *s, int ls, int lt, int *map)
{
	for (int l = 0; l < ls; l++)
		map[l] = s->nkd_layers ? (l < s->nkd_layers ? s->kd_layers[l] : -1) : (int)((int64_t)(l + 1) * lt / ls) - 1;
}

/* the schedule's knobs: what live edits may change, and what they depend on */
static const char *const sched_keys[] = { "initial_sparsity", "final_sparsity", "start", "end", "every",
                                          "freeze", "lr", "alpha_task", "alpha_kd", "temperature" };

int pofa_stage_check(const pofa_stage *s, int64_t total, char *why, size_t n)
{
	/* each knob in its range, as the key table gives it */
	for (size_t i = 0; i < POFA_ARRAY_LEN(sched_keys); i++) {
		const pofa_recipe_key *k = pofa_recipe_key_find(POFA_IN_STAGE, sched_keys[i]);
		const char *p = (const char *)s + k->off;
		double v = k->type == POFA_KEY_FLT ? *(const float *)p : *(const double *)p;
		if (!(v >= k->lo && v <= k->hi))
			return snprintf(why, n, "%s = %g is outside [%g, %g]", k->name, v, k->lo, k->hi), -1;
	}
	if (s->kd_hidden > 0.0f && !s->teacher[0])
		return snprintf(why, n, "kd_hidden = %g distils hidden states from a teacher: name one (teacher =)",
		                s->kd_hidden), -1;
	if (s->nkd_layers && !(s->kd_hidden > 0.0f))
		return snprintf(why, n, "kd_layers maps layers for kd_hidden, which is 0: set kd_hidden"), -1;
	if (s->baselines && s->kind == POFA_STAGE_EVAL && s->task.format != POFA_TASK_SQUAD && !s->task.train[0])
		return snprintf(why, n, "baselines = yes learns from the task's training split: give train_file"), -1;
	if (s->nlayers && s->kind == POFA_STAGE_EVAL)
		return snprintf(why, n, "layers = keeps layers of the model a training stage starts from, not an "
		                "eval stage's"), -1;
	if (!s->prune)
		return 0;
	if (s->pattern == POFA_PATTERN_NM &&
	    fabsf(s->final_sparsity - (1.0f - (float)s->nm_n / (float)s->nm_m)) > 1e-6f)
		return snprintf(why, n, "pattern %d:%d means final_sparsity = %g", s->nm_n, s->nm_m,
		                1.0 - (double)s->nm_n / s->nm_m), -1;
	if (s->global && s->pattern != POFA_PATTERN_UNSTRUCTURED)
		return snprintf(why, n, "scope = global needs pattern = unstructured"), -1;
	if (s->method == POFA_PRUNE_OBERT && (s->pattern == POFA_PATTERN_NM ||
	                                      (s->pattern == POFA_PATTERN_BLOCK && s->block != 4)))
		return snprintf(why, n, "method = obert prunes unstructured or in 1x4 blocks"), -1;
	if (s->method == POFA_PRUNE_OBERT && s->pattern == POFA_PATTERN_BLOCK && s->obert_block % 4)
		return snprintf(why, n, "obert_block = %d: with pattern = 1x4, a multiple of 4", s->obert_block), -1;
	if (s->initial_sparsity > s->final_sparsity)
		return snprintf(why, n, "initial_sparsity %g above final_sparsity %g", s->initial_sparsity,
		                s->final_sparsity), -1;
	if (s->every == 0.0)
		return snprintf(why, n, "every = 0: prune every N steps (N >= 1) or a fraction of the steps"), -1;
	if (total <= 0)
		return 0;
	pofa_gmp g = pofa_stage_gmp(s, total);
	if (g.t1 < g.t0)
		return snprintf(why, n, "end (step %lld) is before start (step %lld)", (long long)g.t1,
		                (long long)g.t0), -1;
	if (g.freeze < g.t0)
		return snprintf(why, n, "freeze (step %lld) is before start (step %lld)", (long long)g.freeze,
		                (long long)g.t0), -1;
	/* the masks must move until the target is reached, and within the stage */
	if (g.freeze < g.t1)
		return snprintf(why, n, "freeze (step %lld) is before end (step %lld): pruning would stop short of "
		                "final_sparsity", (long long)g.freeze, (long long)g.t1), -1;
	if (g.t1 > total)
		return snprintf(why, n, "end (step %lld) is past the stage's last step (%lld)", (long long)g.t1,
		                (long long)total), -1;
	if (g.freeze > total)
		return snprintf(why, n, "freeze (step %lld) is past the stage's last step (%lld)", (long long)g.freeze,
		                (long long)total), -1;
	return 0;
}

