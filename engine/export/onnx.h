/*
 * onnx.h - a pofa model as an ONNX file, for ONNX Runtime and other ONNX
 * consumers: classification, span and masked-LM models, in float or, for a
 * QAT model, with QuantizeLinear/DequantizeLinear around every prunable
 * Linear. See onnx.c for the graph.
 */
#ifndef POFA_EXPORT_ONNX_H
#define POFA_EXPORT_ONNX_H

#include "engine/io/safetensors.h"
#include "engine/pofa.h"

/* Writes m as an ONNX model to path (atomically). int8: the model's
 * model.int8.safetensors for a QAT export, or NULL for float weights. */
int pofa_onnx_export(pofa_model *m, const pofa_st_file *int8, const char *path, pofa_err *err);

#endif
