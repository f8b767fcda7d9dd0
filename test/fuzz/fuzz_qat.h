/*
 * fuzz_qat.h - the tiny QAT classifier the int8 harnesses start from: one
 * layer, 16 channels, its input ranges observed on one batch; and the
 * forward pass each harness runs on what it opened.
 */
#ifndef POFA_FUZZ_QAT_H
#define POFA_FUZZ_QAT_H

#include "engine/pofa.h"
#include "engine/infer/infer.h"

#include <stdlib.h>

static pofa_model *fuzz_qat_model(void)
{
	pofa_err err;
	pofa_config c;
	if (pofa_config_preset(&c, "bert-tiny", &err))
		abort();
	c.vocab_size = 40;
	c.hidden_size = 16;
	c.num_attention_heads = 2;
	c.intermediate_size = 32;
	c.num_hidden_layers = 1;
	c.max_position_embeddings = 16;
	c.num_labels = 2;
	pofa_model *m = pofa_model_new_for(&c, POFA_HEAD_CLS, POFA_MODEL_INFER, 2, 8, 1, &err);
	if (!m)
		abort();
	pofa_model_init(m, 7);
	pofa_model_set_dropout(m, 0);
	int ids[16] = { 2, 7, 9, 3, 0, 0, 0, 0, 2, 8, 3, 11, 12, 13, 3, 0 };
	pofa_batch b = { .B = 2, .T = 8, .input_ids = ids };
	if (pofa_model_set_qat(m, 1, 0, &err) || pofa_model_forward(m, &b, 1, &err))
		abort();
	return m;
}

/* one forward pass of a model the harness opened (NULL: it was refused), then free it */
static void fuzz_forward(pofa_infer *inf)
{
	if (!inf)
		return;
	pofa_err err;
	int ids[16] = { 2, 5, 6, 3, 0, 0, 0, 0, 2, 9, 3, 0, 0, 0, 0, 0 };
	int mask[16] = { 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0 };
	pofa_batch b = { .B = 2, .T = 8, .input_ids = ids, .attention_mask = mask };
	pofa_infer_forward(inf, &b, &err);
	pofa_infer_free(inf);
}

#endif
