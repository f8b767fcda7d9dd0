# pofa build configuration: flags and paths. Rules live in GNUmakefile.

VERSION   = 0.1.0
PREFIX   ?= /usr/local
MANPREFIX ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR   ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
THEMEDIR ?= $(PREFIX)/share/pofa/themes
DOCDIR   ?= $(PREFIX)/share/doc/pofa

CC       ?= cc
# portable by default: CPU-specific code is chosen at run time, never by
# -march; OPT="-O3 -march=native" builds for this machine only
OPT      ?= -O3 -fno-math-errno
CFLAGS   ?= $(OPT) -g
# C11's floating point: no contraction (-std=c11 turns it off), so every
# vector path computes the same bits; no trapping math, so the branch-free
# selects of the element-wise loops (exp's clamps, erf's sign) are
# if-converted and those loops vectorise (without it GCC leaves GELU, exp
# and softmax scalar). Neither changes a result's value.
STD       = -std=c11 -fno-trapping-math
WARN      = -Wall -Wextra -Wno-unused-parameter
# the libraries, through pkg-config where it knows them; the fallback names
# let `make` work on a system without pkg-config files
PKGS      = openblas libcjson libutf8proc inih zlib libprotobuf-c ncursesw
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lopenblas -lcjson -lutf8proc -linih -lz -lprotobuf-c -lncursesw)
# one include root: every include names its folder ("engine/pofa.h")
CPPFLAGS += -D_GNU_SOURCE -DPOFA_VERSION=\"$(VERSION)\" -DPOFA_THEMEDIR=\"$(THEMEDIR)\" -I. $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lcsv -lpthread -lm
TEST_LIBS = -lcmocka

# Open MPI (optional, engine/run/dist.h): data-parallel training under
# mpirun. Found through pkg-config (ompi-c); MPI=1 insists, MPI=0 leaves it
# out. Without it the program is the single-process one.
MPI ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
ifeq ($(MPI_LIBS),)
$(error MPI=1 but pkg-config knows no ompi-c: install libopenmpi-dev (make deps does))
endif
CPPFLAGS += -DPOFA_MPI $(MPI_CFLAGS)
LDLIBS   += $(MPI_LIBS)
endif

# ASan + UBSan build (make asan)
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# ThreadSanitizer build (make tsan)
TSAN_FLAGS = -O1 -g -fsanitize=thread -fno-omit-frame-pointer

# Debian packages the build, tests and data need (make deps installs the missing ones)
DEB_PKGS = gcc make pkg-config libopenblas-dev libcjson-dev libcmocka-dev \
           libncurses-dev libcsv-dev libutf8proc-dev libinih-dev zlib1g-dev \
           libprotobuf-c-dev protobuf-c-compiler libonnx-dev \
           tmux mandoc libxml2-utils dict-gcide wordnet-base hyperfine \
           libopenmpi-dev openmpi-bin
# a browser for report.html's rendering test: installed where apt can,
# the test skipped (and says so) where not
BROWSER_PKGS = chromium
# and for make fuzz: clang with libFuzzer and the sanitizers' runtimes
FUZZ_PKGS = clang libclang-rt-14-dev
