/* fuzz_theme.c - a colour theme file (no terminal: the reader only). */
#include "test/fuzz/fuzz.h"
#include "tui/work/tui.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "fuzz.theme");
	pofa_theme t;
	pofa_err err;
	pofa_theme_load(&t, path, size % 2, &err);
	pofa_theme_free(&t);
	return 0;
}
