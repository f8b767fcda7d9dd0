/*
 * pofa.h - the pofa training engine: BERT-like encoders in C.
 *
 * A short tour:
 *
 *     pofa_config cfg;
 *     pofa_config_preset(&cfg, "bert-tiny");          // or pofa_config_load()
 *     pofa_model *m = pofa_model_new(&cfg, POFA_HEAD_MLM, B, T, nthreads, &err);
 *     pofa_model_init(m, seed);                        // or pofa_model_load()
 *     pofa_optim opt = pofa_optim_default();
 *     for (step = 0; step < steps; step++) {
 *         float loss = pofa_model_step_loss(m, &batch, 1);  // forward + task loss
 *         pofa_model_backward(m, &batch);
 *         pofa_model_clip_grad(m, 1.0f);
 *         pofa_model_adamw(m, &opt, pofa_lr(&sched, step));
 *     }
 *     pofa_model_save(m, "out/dir", vocab_path, &err);
 *     pofa_model_free(m);
 *
 * Shapes: B batch, T sequence length, C hidden size, NH heads, I intermediate
 * size, V vocabulary, L layers. Linear weights are stored [out, in] as in
 * PyTorch. The engine never prints: errors come back in a pofa_err.
 */
#ifndef POFA_H
#define POFA_H

#include <stddef.h>
#include <stdint.h>

#ifndef POFA_VERSION
#define POFA_VERSION "0.1.0"
#endif

/* ---- errors ------------------------------------------------------------ */

enum pofa_status {
	POFA_OK = 0,
	POFA_ERR_RUN = 1,   /* a run failed (numerics, I/O while running) */
	POFA_ERR_INPUT = 2, /* bad input or usage: exit status 2 */
};

typedef struct pofa_err {
	int status;      /* enum pofa_status */
	char msg[1024];  /* "file: tensor: what is wrong; what to do" */
} pofa_err;

int pofa_error(pofa_err *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- configuration (Hugging Face BertConfig) --------------------------- */

typedef struct pofa_config {
	int vocab_size;
	int hidden_size;          /* C */
	int num_hidden_layers;    /* L */
	int num_attention_heads;  /* NH */
	int intermediate_size;    /* I */
	int max_position_embeddings;
	int type_vocab_size;
	int pad_token_id;
	int num_labels;           /* sequence classification head */
	float layer_norm_eps;
	float hidden_dropout_prob;
	float attention_probs_dropout_prob;
	float classifier_dropout; /* < 0: use hidden_dropout_prob */
	float initializer_range;
	char label_names[64][48]; /* id2label, when known (num_labels <= 64) */
} pofa_config;

/* Fills cfg from a preset name: bert-tiny, bert-mini, bert-small,
 * bert-medium, bert-base. Vocabulary defaults to 30522 as in Google's. */
int pofa_config_preset(pofa_config *cfg, const char *name, pofa_err *err);
const char *pofa_config_preset_names(void);
int pofa_config_load(pofa_config *cfg, const char *path, pofa_err *err);
int pofa_config_save(const pofa_config *cfg, int head, const char *path, pofa_err *err);
int pofa_config_check(const pofa_config *cfg, const char *what, pofa_err *err);

/* ---- the model --------------------------------------------------------- */

enum pofa_head {
	POFA_HEAD_MLM,   /* masked-LM: transform + decoder tied to word embeddings */
	POFA_HEAD_CLS,   /* sequence classification: pooler + classifier */
	POFA_HEAD_SPAN,  /* span extraction: start/end logits per token */
	POFA_HEAD_COUNT
};
extern const char *const pofa_head_names[POFA_HEAD_COUNT];

#define POFA_IGNORE (-100) /* label ignored by the MLM loss */

/* One batch of examples. Arrays are (B, T) row-major unless noted. */
typedef struct pofa_batch {
	int B, T;
	const int *input_ids;
	const int *token_type_ids;  /* NULL: all zero */
	const int *attention_mask;  /* NULL: all ones */
	const int *mlm_labels;      /* MLM: target id or POFA_IGNORE */
	const int *labels;          /* CLS: (B) */
	const int *start_positions; /* SPAN: (B) */
	const int *end_positions;   /* SPAN: (B) */
} pofa_batch;

/* Which tokens the MLM decoder computes logits for. */
enum pofa_mlm_positions {
	POFA_MLM_MASKED,   /* only where mlm_labels != POFA_IGNORE (fast) */
	POFA_MLM_ALL,      /* every non-padding token (distillation) */
};

typedef struct pofa_model pofa_model;

/* Allocates parameters, gradients, AdamW moments and an activation arena
 * for batches up to (maxB, maxT). Nothing else is allocated per step. */
pofa_model *pofa_model_new(const pofa_config *cfg, int head, int maxB, int maxT,
                           int nthreads, pofa_err *err);
void pofa_model_free(pofa_model *m);
const pofa_config *pofa_model_config(const pofa_model *m);
int pofa_model_head(const pofa_model *m);

/* Hugging Face initialisation: N(0, initializer_range) weights, zero
 * biases, unit LayerNorm, zero padding row; deterministic in seed. */
void pofa_model_init(pofa_model *m, uint64_t seed);

/* Dropout: on in training forward passes unless switched off. */
void pofa_model_set_dropout(pofa_model *m, int enabled);
void pofa_model_set_seed(pofa_model *m, uint64_t seed);
void pofa_model_set_mlm_positions(pofa_model *m, int which);

/* Forward pass up to the head's logits. train: dropout as configured. */
int pofa_model_forward(pofa_model *m, const pofa_batch *b, int train, pofa_err *err);
/* The head's task loss on the last forward pass; also sets the gradient of
 * the logits (scaled by weight) for the next backward. Returns the loss. */
float pofa_model_task_loss(pofa_model *m, const pofa_batch *b, float weight);
/* Forward + task loss with weight 1. Returns the loss, NaN on bad input. */
float pofa_model_step_loss(pofa_model *m, const pofa_batch *b, int train);
/* Backward from the logits' gradient: adds into parameter gradients. */
void pofa_model_backward(pofa_model *m, const pofa_batch *b);
void pofa_model_zero_grad(pofa_model *m);

/* Logits of the last forward pass:
 *  MLM: (n, V) rows for positions pofa_model_logit_positions() (index b*T+t)
 *  CLS: (B, num_labels)
 *  SPAN: (B*T, 2) start and end logit per token */
float *pofa_model_logits(pofa_model *m, int *rows, int *cols);
float *pofa_model_dlogits(pofa_model *m);
const int *pofa_model_logit_positions(const pofa_model *m);

/* Distillation from a teacher's logits of the same batch (same layout as
 * pofa_model_logits): adds weight * T^2 * KL(softmax(t/T) || softmax(s/T)),
 * averaged over rows (MLM tokens, CLS examples, SPAN start and end
 * distributions), into the logits' gradient. Returns the unweighted mean. */
double pofa_model_kd(pofa_model *m, const float *teacher_logits, float T, float weight);

/* Quantization-aware training of every prunable Linear: int8 symmetric
 * weights (per tensor, or per output channel), uint8 asymmetric inputs with
 * a moving-average range (constant 0.01), straight-through gradients. */
int pofa_model_set_qat(pofa_model *m, int enabled, int per_channel, pofa_err *err);
int pofa_model_qat(const pofa_model *m);
/* the input ranges learned during QAT, to resume or evaluate later */
int pofa_model_qat_save(pofa_model *m, const char *path, pofa_err *err);
int pofa_model_qat_load(pofa_model *m, const char *path, pofa_err *err);
/* dropout stream position (training forward passes so far) */
uint64_t pofa_model_fwd_count(const pofa_model *m);
/* int8 weights, scales, input scale/zero point and int32 biases */
int pofa_model_export_int8(pofa_model *m, const char *path, pofa_err *err);

/* ---- parameters -------------------------------------------------------- */

typedef struct pofa_tensor {
	char name[96];   /* Hugging Face name */
	float *data;     /* into the parameter block */
	float *grad;     /* into the gradient block */
	int ndim;
	int64_t shape[2];
	int64_t numel;
	int decay;       /* AdamW weight decay applies (not biases, LayerNorm) */
	int prunable;    /* encoder Linear weights and the pooler */
} pofa_tensor;

/* The model's tensors in Hugging Face naming (query/key/value split). */
int pofa_model_tensors(pofa_model *m, pofa_tensor **out);
size_t pofa_model_num_params(const pofa_model *m);
float *pofa_model_params(pofa_model *m);
float *pofa_model_grads(pofa_model *m);

/* ---- optimisation ------------------------------------------------------ */

typedef struct pofa_optim {
	double beta1, beta2, eps, weight_decay;   /* doubles, as PyTorch's Python floats */
	int64_t step;     /* updates done so far */
} pofa_optim;

pofa_optim pofa_optim_default(void); /* 0.9, 0.999, 1e-8 (as PyTorch), wd 0.01 */

/* Global L2 norm of the gradients; scales them to max_norm when above it
 * (max_norm <= 0: no clipping). Returns the norm before clipping. */
float pofa_model_clip_grad(pofa_model *m, float max_norm);
/* One AdamW step with PyTorch semantics at learning rate lr. */
void pofa_model_adamw(pofa_model *m, pofa_optim *o, double lr);
float *pofa_model_moment1(pofa_model *m);
float *pofa_model_moment2(pofa_model *m);

enum pofa_sched_kind { POFA_SCHED_LINEAR, POFA_SCHED_CONSTANT };
typedef struct pofa_sched {
	int kind;
	double lr;         /* peak learning rate */
	int64_t warmup;    /* linear warmup steps */
	int64_t total;     /* total steps (linear decay to 0 at total) */
} pofa_sched;
/* Learning rate for the update that follows `step` updates, as
 * transformers' get_linear_schedule_with_warmup / constant_with_warmup. */
double pofa_lr(const pofa_sched *s, int64_t step);

/* ---- files ------------------------------------------------------------- */

/* Model directory: config.json, model.safetensors, vocab.txt. */
int pofa_model_save(pofa_model *m, const char *dir, const char *vocab_src, pofa_err *err);
/* Loads a model directory into a new model with the given head. Tensors of
 * other heads are ignored; a head missing from the files is initialised
 * (seed). *fresh_head tells whether that happened. */
pofa_model *pofa_model_load(const char *dir, int head, int maxB, int maxT, int nthreads,
                            uint64_t seed, int *fresh_head, pofa_err *err);
/* Loads tensors from a safetensors file into an existing model. */
int pofa_model_load_weights(pofa_model *m, const char *path, int *missing_head, pofa_err *err);
int pofa_model_save_weights(pofa_model *m, const char *path, pofa_err *err);

/* Optimizer state (moments, step, RNG) beside the model. */
int pofa_optim_save(pofa_model *m, const pofa_optim *o, const char *path, pofa_err *err);
int pofa_optim_load(pofa_model *m, pofa_optim *o, const char *path, pofa_err *err);

/* ---- threads and BLAS -------------------------------------------------- */

/* Use the naive matrix product instead of cblas_sgemm (tests). */
void pofa_model_set_naive(pofa_model *m, int naive);
int pofa_model_threads(const pofa_model *m);

/* ---- safetensors ------------------------------------------------------- */

enum pofa_dtype { POFA_F32, POFA_F16, POFA_BF16, POFA_F64, POFA_I64, POFA_I32,
                  POFA_I8, POFA_U8, POFA_BOOL, POFA_DTYPE_COUNT };

typedef struct pofa_st_tensor {
	char name[256];
	int dtype;
	int ndim;
	int64_t shape[8];
	uint64_t begin, end;  /* byte offsets in the data section */
} pofa_st_tensor;

typedef struct pofa_st_file {
	char path[1024];
	unsigned char *buf;   /* the whole file */
	size_t size;
	size_t data_off;      /* start of the data section */
	int ntensors;
	pofa_st_tensor *tensors;
	int nmeta;
	char (*meta)[2][128]; /* __metadata__ key, value */
} pofa_st_file;

/* Reads and validates a safetensors file (untrusted input). */
int pofa_st_open(pofa_st_file *f, const char *path, pofa_err *err);
void pofa_st_close(pofa_st_file *f);
const pofa_st_tensor *pofa_st_find(const pofa_st_file *f, const char *name);
const char *pofa_st_meta(const pofa_st_file *f, const char *key);
/* Converts a tensor to float32 into out (numel floats). */
int pofa_st_read_f32(const pofa_st_file *f, const pofa_st_tensor *t, float *out, pofa_err *err);

/* Writer: sorted as the reference writer does (dtype alignment, then name),
 * header padded to 8 bytes. dtype 0 is F32. */
typedef struct pofa_st_out {
	const char *name;
	const void *data;
	int ndim;
	int64_t shape[2];
	int dtype;        /* enum pofa_dtype: F32, I32, I8, U8 */
} pofa_st_out;
int pofa_st_write(const char *path, const pofa_st_out *t, int n,
                  const char *const (*meta)[2], int nmeta, pofa_err *err);

/* Atomic file write: temp file in the same folder, fsync, rename. */
int pofa_write_atomic(const char *path, const void *data, size_t n, pofa_err *err);
int pofa_mkdirs(const char *dir, pofa_err *err);

#endif
