/* metrics.c - accuracy, macro-F1 and binary F1 (see loaders.h). */
#include "data/task/loaders.h"
#include "data/base/fileio.h"
#include "data/base/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- metrics --------------------------------------------------------------------- */

double pofa_accuracy(const int *pred, const int *gold, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += pred[i] == gold[i];
	return n ? (double)ok / n : 0.0;
}

static double f1_of(long tp, long fp, long fn)
{
	if (tp == 0)
		return 0.0;
	double p = (double)tp / (tp + fp), r = (double)tp / (tp + fn);
	return 2 * p * r / (p + r);
}

double pofa_binary_f1(const int *pred, const int *gold, int n, int positive)
{
	long tp = 0, fp = 0, fn = 0;
	for (int i = 0; i < n; i++) {
		tp += pred[i] == positive && gold[i] == positive;
		fp += pred[i] == positive && gold[i] != positive;
		fn += pred[i] != positive && gold[i] == positive;
	}
	return f1_of(tp, fp, fn);
}

/* macro-F1 over the classes present in gold or predictions (as
 * scikit-learn's f1_score(average="macro") with the labels it sees) */
double pofa_macro_f1(const int *pred, const int *gold, int n, int nclasses)
{
	double sum = 0.0;
	int seen = 0;
	for (int c = 0; c < nclasses; c++) {
		long tp = 0, fp = 0, fn = 0;
		for (int i = 0; i < n; i++) {
			tp += pred[i] == c && gold[i] == c;
			fp += pred[i] == c && gold[i] != c;
			fn += pred[i] != c && gold[i] == c;
		}
		if (tp + fp + fn == 0)
			continue;
		sum += f1_of(tp, fp, fn);
		seen++;
	}
	return seen ? sum / seen : 0.0;
}
