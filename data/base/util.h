/* util.h - small macros every layer uses. */
#ifndef POFA_BASE_UTIL_H
#define POFA_BASE_UTIL_H

#define POFA_MIN(a, b) ((a) < (b) ? (a) : (b))
#define POFA_MAX(a, b) ((a) > (b) ? (a) : (b))
#define POFA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* a label no loss counts (PyTorch's ignore_index): MLM positions not chosen */
#define POFA_IGNORE (-100)

#endif
