# pofa build configuration: flags and paths. Rules live in GNUmakefile.

VERSION   = 0.1.0
PREFIX   ?= /usr/local
MANPREFIX ?= $(PREFIX)/share/man

CC       ?= cc
OPT      ?= -O3 -march=native -fno-math-errno
CFLAGS   ?= $(OPT) -g
WARN      = -Wall -Wextra -Wno-unused-parameter
PKGS      = openblas libcjson libutf8proc inih zlib ncursesw
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
THEMEDIR ?= $(PREFIX)/share/pofa/themes
CPPFLAGS += -D_GNU_SOURCE -DPOFA_VERSION=\"$(VERSION)\" -DPOFA_THEMEDIR=\"$(THEMEDIR)\" -Iengine -Idata $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lcsv -lpthread -lm
TEST_LIBS = -lcmocka

# ASan + UBSan build (make asan)
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# ThreadSanitizer build (make tsan)
TSAN_FLAGS = -O1 -g -fsanitize=thread -fno-omit-frame-pointer

# Debian packages the build, tests and data need (make deps installs the missing ones)
DEB_PKGS = gcc make pkg-config libopenblas-dev libcjson-dev libcmocka-dev \
           libncurses-dev libcsv-dev libutf8proc-dev libinih-dev zlib1g-dev \
           tmux mandoc dict-gcide wordnet-base
