#!/bin/sh
# The library as a third party gets it: make install puts the headers,
# libpofa.a and pofa.pc under DESTDIR; a program that includes
# "engine/pofa.h" and links with `pkg-config --libs --static pofa` builds
# and runs inference on a model folder; every installed header compiles on
# its own, none is private; pofa.pc follows PREFIX from one install to the
# next; every global symbol of libpofa.a is prefixed pofa_.
BUILD=${BUILD:-build}
. test/fixture.sh

# the installed layout (from the build under test, nothing rebuilt)
make -s --no-print-directory BUILD="$BUILD" BIN="$POFA" DESTDIR="$tmp/root" PREFIX=/usr install >"$tmp/install.log" 2>&1 \
	|| { cat "$tmp/install.log"; bad "make install"; }
for f in usr/lib/libpofa.a usr/lib/pkgconfig/pofa.pc usr/include/pofa/engine/pofa.h \
         usr/include/pofa/engine/io/safetensors.h usr/include/pofa/data/base/error.h \
         usr/include/pofa/engine/infer/infer.h usr/include/pofa/data/text/tokenizer.h; do
	[ -f "$tmp/root/$f" ] || bad "installed: $f missing"
done
private=$(cd "$tmp/root/usr/include/pofa" && find . -name 'internal.h' -o -name 'kern_*.h' -o -name 'vec512.h')
[ -z "$private" ] && ok "no private header installed" || bad "installed private headers: $private"

export PKG_CONFIG_PATH="$tmp/root/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
# every installed header compiles on its own in a C11 translation unit
nh=0
for h in $(cd "$tmp/root/usr/include/pofa" && find . -name '*.h' | sed 's|^\./||' | sort); do
	printf '#include "%s"\nint pofa_user_unit;\n' "$h" > "$tmp/one.c"
	if ${CC:-cc} -std=c11 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags pofa) -c "$tmp/one.c" \
		-o "$tmp/one.o" >"$tmp/cc.log" 2>&1; then
		nh=$((nh + 1))
	else
		cat "$tmp/cc.log"; bad "the installed $h does not compile on its own"
	fi
done
[ "$nh" -ge 9 ] && ok "$nh installed headers compile on their own (C11, -pedantic)" || bad "only $nh headers compiled"

# a third-party program, through pkg-config: makes a model folder, then
# loads it and runs predict-style inference (tokenise, forward-only pass)
cat > "$tmp/user.c" <<'C'
#include "engine/pofa.h"
#include "engine/infer/infer.h"
#include "data/text/tokenizer.h"
#include <math.h>
#include <stdio.h>

static const char *const vocab[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat",
                                     "on", "mat", "##s", "a" };

int main(int argc, char **argv)
{
	pofa_err err;
	pofa_config cfg;
	const char *dir = argv[1];
	char path[1024];
	if (argc < 2 || pofa_config_preset(&cfg, "bert-tiny", &err))
		return 1;
	cfg.vocab_size = 12;
	cfg.num_labels = 2;
	snprintf(path, sizeof path, "%s.vocab", dir);
	FILE *f = fopen(path, "w");
	for (int i = 0; f && i < 12; i++)
		fprintf(f, "%s\n", vocab[i]);
	if (!f || fclose(f))
		return 1;
	pofa_model *m = pofa_model_new(&cfg, POFA_HEAD_CLS, 1, 16, 1, &err);
	if (!m || (pofa_model_init(m, 7), pofa_model_save(m, dir, path, &err)))
		return fprintf(stderr, "%s\n", err.msg), 1;
	/* the folder as a user gets it: tokenise, load, one forward pass */
	snprintf(path, sizeof path, "%s/vocab.txt", dir);
	pofa_tokenizer *tk = pofa_tokenizer_load(path, POFA_CASE_AUTO, &err);
	pofa_infer_opts o = { .maxB = 1, .maxT = 16, .threads = 1, .int8 = POFA_INT8_AUTO, .force_fmt = -1, .cpu = -1 };
	pofa_infer *inf = tk ? pofa_infer_open(dir, &o, &err) : NULL;
	pofa_encoding e;
	if (!inf || pofa_encoding_init(&e, 16) || pofa_encode(tk, "The cats sat on a mat", -1, NULL, 0, 16, 1, &e) < 0)
		return fprintf(stderr, "%s\n", err.msg), 1;
	pofa_batch b = { .B = 1, .T = 16, .input_ids = e.ids, .token_type_ids = e.type_ids, .attention_mask = e.mask };
	if (pofa_infer_forward(inf, &b, &err) || pofa_model_forward(m, &b, 0, &err))
		return fprintf(stderr, "%s\n", err.msg), 1;
	int rows, cols, r2, c2;
	const float *lg = pofa_infer_logits(inf, &rows, &cols);
	const float *ref = pofa_model_logits(m, &r2, &c2);
	double diff = 0.0;
	for (int k = 0; k < cols; k++)
		diff = fmax(diff, fabs((double)lg[k] - ref[k]));
	printf("tokens %d logits %d x %d label %d diff %.2g\n", e.len, rows, cols, lg[1] > lg[0], diff);
	int good = rows == 1 && cols == 2 && e.len == 16 && e.mask[8] == 1 && e.mask[9] == 0 && diff < 1e-4;
	pofa_encoding_free(&e);
	pofa_infer_free(inf);
	pofa_tokenizer_free(tk);
	pofa_model_free(m);
	return !good;
}
C
# CFLAGS: the build's own (a sanitizer build's program needs its runtime)
if ${CC:-cc} -std=c11 $CFLAGS -o "$tmp/user" "$tmp/user.c" $(pkg-config --cflags pofa) \
	$(pkg-config --libs --static pofa) >"$tmp/cc.log" 2>&1; then
	out=$("$tmp/user" "$tmp/model") && echo "$out" | grep -q "logits 1 x 2" \
		&& ok "a program built with pkg-config pofa loads a model folder and predicts: $out" \
		|| bad "the program runs: $out"
else
	cat "$tmp/cc.log"; bad "a program builds with pkg-config pofa"
fi

# the installed example program (pofa_infer(3)): built against the
# installed library, it labels lines with three threads on one loaded
# model and prints what pofa predict prints for them
ex="$tmp/root/usr/share/doc/pofa/examples/classify.c"
[ -f "$tmp/root/usr/share/man/man3/pofa_infer.3" ] && ok "pofa_infer(3) installed" || bad "pofa_infer(3) not installed"
printf 'the cats sat on a mat\na mat\nthe cat\ncats\nthe mat sat on the cat\na cat sat\non the mat\nthe\ncat cat cat\nmat on a cat\n' > "$tmp/lines.txt"
for i in 1 2 3; do cat "$tmp/lines.txt"; done > "$tmp/lines30.txt"
if [ -f "$ex" ] && ${CC:-cc} -std=c11 -Wall -Wextra -Werror $CFLAGS -o "$tmp/classify" "$ex" $(pkg-config --cflags pofa) \
	$(pkg-config --libs --static pofa) >"$tmp/cc.log" 2>&1; then
	"$tmp/classify" "$tmp/model" 3 < "$tmp/lines30.txt" > "$tmp/ex.out" 2>"$tmp/ex.err" \
		&& "$POFA" predict --model "$tmp/model" --threads 1 "$tmp/lines30.txt" > "$tmp/pp.out" 2>>"$tmp/ex.err" \
		&& [ "$(wc -l < "$tmp/ex.out")" -eq 30 ] && cmp -s "$tmp/ex.out" "$tmp/pp.out" \
		&& ok "the installed example (examples/classify.c, 3 threads) prints what pofa predict prints for 30 lines" \
		|| { cat "$tmp/ex.err"; diff "$tmp/pp.out" "$tmp/ex.out" | head -5; bad "the example program's output"; }
else
	cat "$tmp/cc.log"; bad "the installed example builds with pkg-config pofa"
fi

# pofa.pc follows the prefix: two installs in a row with other prefixes
for pre in /opt/pofa-a /opt/pofa-b; do
	env -u PKG_CONFIG_PATH -u PKG_CONFIG_SYSROOT_DIR \
	make -s --no-print-directory BUILD="$BUILD" BIN="$POFA" DESTDIR="$tmp/p" PREFIX=$pre install \
		>"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; bad "make install PREFIX=$pre"; }
	pc="$tmp/p$pre/lib/pkgconfig/pofa.pc"
	got=$(sed -n 's/^prefix=//p' "$pc" 2>/dev/null); inc=$(sed -n 's/^includedir=//p' "$pc" 2>/dev/null)
	[ "$got" = "$pre" ] && [ "$inc" = "$pre/include/pofa" ] && ok "PREFIX=$pre: pofa.pc says prefix=$got" \
		|| bad "PREFIX=$pre: pofa.pc says prefix=$got includedir=$inc"
done
# put the build's paths back as they were, for the tests that follow
env -u PKG_CONFIG_PATH -u PKG_CONFIG_SYSROOT_DIR make -s --no-print-directory BUILD="$BUILD" BIN="$POFA" "$POFA" >/dev/null 2>&1

# every global symbol the library defines is prefixed (but the sanitizers' own)
nm -g --defined-only "$tmp/root/usr/lib/libpofa.a" | awk 'NF == 3 { print $3 }' \
	| grep -v '^__odr_asan\|^__asan\|^__tsan\|^__ubsan' | sort -u > "$tmp/syms"
grep -v '^pofa_' "$tmp/syms" > "$tmp/unprefixed"
[ -s "$tmp/syms" ] && [ ! -s "$tmp/unprefixed" ] && ok "$(wc -l < "$tmp/syms") global symbols, all pofa_" \
	|| { bad "unprefixed global symbols:"; cat "$tmp/unprefixed"; }
[ "$fails" -eq 0 ]
