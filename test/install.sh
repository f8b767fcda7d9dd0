#!/bin/sh
# The library as a third party gets it: make install puts the headers,
# libpofa.a and pofa.pc under DESTDIR; a program that includes
# "engine/pofa.h" and links with `pkg-config --libs --static pofa` builds
# and runs; every global symbol of libpofa.a is prefixed pofa_.
BUILD=${BUILD:-build}
. test/fixture.sh

# the installed layout (from the build under test, nothing rebuilt)
make -s --no-print-directory BUILD="$BUILD" BIN="$POFA" DESTDIR="$tmp/root" PREFIX=/usr install >"$tmp/install.log" 2>&1 \
	|| { cat "$tmp/install.log"; bad "make install"; }
for f in usr/lib/libpofa.a usr/lib/pkgconfig/pofa.pc usr/include/pofa/engine/pofa.h \
         usr/include/pofa/engine/io/safetensors.h usr/include/pofa/data/base/error.h \
         usr/include/pofa/engine/run/driver.h; do
	[ -f "$tmp/root/$f" ] || bad "installed: $f missing"
done
[ -f "$tmp/root/usr/include/pofa/engine/model/internal.h" ] && bad "installed: an internal header"

# a third-party program, through pkg-config
cat > "$tmp/user.c" <<'C'
#include "engine/pofa.h"
#include "engine/io/safetensors.h"
#include <stdio.h>

int main(void)
{
	pofa_err err;
	pofa_config cfg;
	if (pofa_config_preset(&cfg, "bert-tiny", &err))
		return 1;
	cfg.vocab_size = 100;
	pofa_model *m = pofa_model_new(&cfg, POFA_HEAD_CLS, 2, 8, 1, &err);
	if (!m)
		return fprintf(stderr, "%s\n", err.msg), 1;
	pofa_model_init(m, 7);
	int ids[16] = { 2, 5, 6, 7, 3 }, labels[2] = { 0, 1 };
	pofa_batch b = { .B = 2, .T = 8, .input_ids = ids, .labels = labels };
	float loss = pofa_model_step_loss(m, &b, 0);
	pofa_tensor *q = pofa_model_tensor(m, 0, POFA_ROLE_QUERY, POFA_PARAM_WEIGHT);
	printf("loss %.4f params %zu query %s\n", loss, pofa_model_num_params(m), q ? q->name : "?");
	pofa_model_free(m);
	return !(loss > 0.0f);
}
C
export PKG_CONFIG_PATH="$tmp/root/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
# CFLAGS: the build's own (a sanitizer build's program needs its runtime)
if ${CC:-cc} -std=c11 $CFLAGS -o "$tmp/user" "$tmp/user.c" $(pkg-config --cflags pofa) \
	$(pkg-config --libs --static pofa) >"$tmp/cc.log" 2>&1; then
	out=$("$tmp/user") && echo "$out" | grep -q "query bert.encoder.layer.0.attention.self.query.weight" \
		&& ok "a program built with pkg-config pofa runs: $out" || bad "the program runs: $out"
else
	cat "$tmp/cc.log"; bad "a program builds with pkg-config pofa"
fi

# every global symbol the library defines is prefixed (but the sanitizers' own)
nm -g --defined-only "$tmp/root/usr/lib/libpofa.a" | awk 'NF == 3 { print $3 }' \
	| grep -v '^__odr_asan\|^__asan\|^__tsan\|^__ubsan' | sort -u > "$tmp/syms"
grep -v '^pofa_' "$tmp/syms" > "$tmp/unprefixed"
[ -s "$tmp/syms" ] && [ ! -s "$tmp/unprefixed" ] && ok "$(wc -l < "$tmp/syms") global symbols, all pofa_" \
	|| { bad "unprefixed global symbols:"; cat "$tmp/unprefixed"; }
[ "$fails" -eq 0 ]
