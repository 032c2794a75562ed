# Makefile - Tank, non-recursive: every artefact lands in build/.
#   make            build tankd, tank-shim, tankctl, BPF objects and the unit tests
#   make test       install missing Debian packages, build, run unit + root integration tests
#   make unit       build and run the cmocka unit tests only (no root needed)
#   make bench      run the benchmarks (each prints its figure and the peer's)
#   make install    install binaries, unit file and default config

CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
B         := build
ARCH      := $(shell gcc -dumpmachine)
PKGS      := libbpf libmnl libnl-3.0 libnl-route-3.0 libcurl libarchive jansson libcrypto zlib \
             libelf
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS    ?= -O2 -g
CFLAGS    += -DTANK_SHIM_DEFAULT='"$(PREFIX)/libexec/tank/tank-shim"'
CFLAGS    += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-format-truncation \
             -fno-strict-aliasing -I. -I$(B) $(PKG_CFLAGS) -MMD -MP
LDLIBS    := $(PKG_LIBS) -lpthread

PREFIX    ?= /usr/local

all: $(B)/tankd $(B)/tank-shim $(B)/tankctl unit-build

# ---- sources per folder ---------------------------------------------------------------------
LIB_SRC      := $(wildcard lib/*.c)
OCI_SRC      := $(wildcard oci/*.c)
ROOTFS_SRC   := $(wildcard rootfs/*.c)
NETPLANE_SRC := $(wildcard netplane/*.c)
SHIM_SRC     := $(wildcard daemon/shim*.c)
DAEMON_SRC   := $(filter-out $(SHIM_SRC),$(wildcard daemon/*.c))
CTL_SRC      := $(wildcard tools/tankctl*.c)
BPF_SRC      := $(wildcard bpf/*.bpf.c)

obj = $(patsubst %.c,$(B)/%.o,$(1))

$(B)/libtank.a:     $(call obj,$(LIB_SRC))
$(B)/liboci.a:      $(call obj,$(OCI_SRC))
$(B)/librootfs.a:   $(call obj,$(ROOTFS_SRC))
$(B)/libnetplane.a: $(call obj,$(NETPLANE_SRC))
$(B)/libdaemon.a:   $(call obj,$(filter-out daemon/tankd.c,$(DAEMON_SRC)))

$(B)/%.a:
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

ALL_LIBS := $(B)/libdaemon.a $(B)/libnetplane.a $(B)/liboci.a $(B)/librootfs.a $(B)/libtank.a

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# ---- BPF: vmlinux.h from the running kernel, objects, skeletons (never committed) ----------
BPF_OBJ  := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.skel.h,$(BPF_SRC))

$(B)/bpf/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c bpf/tank_abi.h bpf/tank_dp.h $(B)/bpf/vmlinux.h
	$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -I$(B)/bpf -Ibpf \
		-I/usr/include/$(ARCH) -c $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# netplane includes the skeletons, and daemon/cgroup.c the device filter's
$(call obj,$(NETPLANE_SRC)): $(BPF_SKEL)
$(B)/daemon/cgroup.o: $(B)/bpf/tank_dev.skel.h

# ---- binaries --------------------------------------------------------------------------------
$(B)/tankd: $(call obj,daemon/tankd.c) $(B)/libdaemon.a $(B)/libnetplane.a $(B)/liboci.a \
	    $(B)/libtank.a
	$(CC) -o $@ $^ $(LDLIBS)

# the pause process of share_pid pods: freestanding, embedded in tank-shim as bytes
$(B)/daemon/pause/tank-pause: daemon/pause/pause.c
	@mkdir -p $(@D)
	$(CC) -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie \
		-fno-asynchronous-unwind-tables -fcf-protection=none -Wall -Wextra -Werror \
		-Wl,--build-id=none -Wl,-n -Wl,-z,noexecstack -s -o $@ $<

$(B)/daemon/pause/tank-pause.inc: $(B)/daemon/pause/tank-pause
	od -An -v -tx1 $< | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' > $@.tmp && mv $@.tmp $@

$(B)/daemon/shim_ctr.o: $(B)/daemon/pause/tank-pause.inc

# tank-shim runs once per pod: static (no ld.so, no relocations, only the pages it touches
# of glibc, jansson and libseccomp), which halves its start and its RSS. It does no NSS lookup
# (users are resolved by hand in the rootfs's /etc/passwd), so static glibc is safe.
SHIM_LIBS := $(shell pkg-config --libs --static jansson libseccomp 2>/dev/null || echo -ljansson -lseccomp)
$(B)/tank-shim: $(call obj,$(SHIM_SRC)) $(B)/librootfs.a $(B)/libtank.a
	$(CC) -static -o $@ $^ $(SHIM_LIBS) -lpthread

$(B)/tankctl: $(call obj,$(CTL_SRC)) $(B)/libtank.a
	$(CC) -o $@ $^ $(LDLIBS)

# ---- tests -----------------------------------------------------------------------------------
# tests/unit/test_<folder>_*.c link only that folder (+ lib); tests/bpf and tests/root hold
# cmocka tests that need root (real BPF, netns, mounts) and link everything.
UNIT_SRC := $(wildcard tests/unit/test_*.c)
ROOT_SRC := $(wildcard tests/bpf/test_*.c tests/root/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
ROOT_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(ROOT_SRC))

$(B)/tests/test_lib%: $(B)/tests/unit/test_lib%.o $(B)/libtank.a
	$(CC) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/test_oci%: $(B)/tests/unit/test_oci%.o $(B)/liboci.a $(B)/libtank.a
	$(CC) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/test_rootfs%: $(B)/tests/unit/test_rootfs%.o $(B)/librootfs.a $(B)/libtank.a
	$(CC) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/test_netplane%: $(B)/tests/unit/test_netplane%.o $(B)/libnetplane.a $(B)/libtank.a
	$(CC) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/test_daemon%: $(B)/tests/unit/test_daemon%.o $(ALL_LIBS)
	$(CC) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/bpf/%: $(B)/tests/bpf/%.o $(ALL_LIBS)
	$(CC) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/root/%: $(B)/tests/root/%.o $(ALL_LIBS)
	$(CC) -o $@ $^ $(LDLIBS) -lcmocka
# the root tests include BPF skeletons
$(patsubst %.c,$(B)/%.o,$(ROOT_SRC)): $(BPF_SKEL)

unit-build: $(UNIT_BIN) $(ROOT_BIN)

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

# ---- fuzz targets (libFuzzer): tests/fuzz/fuzz_<folder>_*.c and named ones ------------------
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -I. -I$(B) \
               $(PKG_CFLAGS) -DTANK_SHIM_DEFAULT='"/x"'
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))

define fuzz_link
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)
endef

$(B)/fuzz/fuzz_spec: tests/fuzz/fuzz_spec.c $(wildcard daemon/spec*.c) $(LIB_SRC)
	$(fuzz_link)
$(B)/fuzz/fuzz_ipc: tests/fuzz/fuzz_ipc.c $(LIB_SRC)
	$(fuzz_link)
$(B)/fuzz/fuzz_dns: tests/fuzz/fuzz_dns.c netplane/dns.c $(LIB_SRC)
	$(fuzz_link)
$(B)/fuzz/fuzz_oci_%: tests/fuzz/fuzz_oci_%.c $(OCI_SRC) $(LIB_SRC)
	$(fuzz_link)
# api.c is #included by its target (which stubs the rest of tankd), so it is not linked again
$(B)/fuzz/fuzz_api: tests/fuzz/fuzz_api.c $(wildcard daemon/spec*.c) $(LIB_SRC) daemon/api.c \
		    daemon/api.h daemon/tankd.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter-out daemon/api.c,$(filter %.c,$^)) $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run.sh

deps:
	@tests/deps.sh

test: deps
	$(MAKE) all
	@tests/run-unit.sh $(UNIT_BIN)
	@tests/run-unit.sh $(ROOT_BIN)
	@tests/integration/run.sh
	$(MAKE) fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-5}

$(B)/bench/bench_plan: $(B)/tests/bench/bench_plan.o $(B)/libdaemon.a $(B)/libtank.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/bench/bench_netsetup: $(B)/tests/bench/bench_netsetup.o $(B)/libnetplane.a $(B)/libtank.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/bench/bench_unpack: $(B)/tests/bench/bench_unpack.o $(B)/liboci.a $(B)/libtank.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)

bench: all $(B)/bench/bench_plan $(B)/bench/bench_netsetup $(B)/bench/bench_unpack \
	$(B)/tests/bpf/bench_bpf_rules
	@tests/bench/run.sh

SBINDIR   = $(PREFIX)/sbin
LIBEXEC   = $(PREFIX)/libexec/tank
UNITDIR  ?= $(PREFIX)/lib/systemd/system

install: all
	install -D -m 0755 $(B)/tankd $(DESTDIR)$(SBINDIR)/tankd
	install -D -m 0755 $(B)/tank-shim $(DESTDIR)$(LIBEXEC)/tank-shim
	install -D -m 0755 $(B)/tankctl $(DESTDIR)$(PREFIX)/bin/tankctl
	install -d -m 0755 $(DESTDIR)/etc/tank/pods.d
	[ -e $(DESTDIR)/etc/tank/tankd.conf ] || \
		install -m 0644 tools/tankd.conf $(DESTDIR)/etc/tank/tankd.conf
	sed 's|@SBINDIR@|$(SBINDIR)|' tools/tankd.service > $(B)/tankd.service
	install -D -m 0644 $(B)/tankd.service $(DESTDIR)$(UNITDIR)/tankd.service
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/tank/README.md
	$(B)/tankctl completion bash > $(B)/tankctl.bash
	install -D -m 0644 $(B)/tankctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tankctl

clean:
	rm -rf $(B)

.PHONY: all unit-build unit deps test bench install clean fuzz
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
