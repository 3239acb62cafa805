# hookbus: plain Makefile, output in build/ (or $(BUILD)).
#   make            build everything (installs missing Debian packages first)
#   make run        gateway + hookbus-tail on an embedded Kafka, config/dev.yaml
#   make test       unit + e2e tests, the same under ASan+UBSan, then fuzz-smoke and valgrind
#   make asan       sanitizer build and its tests only
#   make install PREFIX=/usr/local   (NODEPS=1: do not run scripts/install-deps.sh)
#   make dist       the container image's tree in $(BUILD)/dist (make install PREFIX=/usr)
#   make check-deploy  compose file, every config under config/, Kubernetes manifests
#   make check-rules   Prometheus rules: promtool check rules + promtool test rules
#   make fuzz       libFuzzer targets (clang) in build/fuzz; make fuzz-smoke runs each briefly
#   make valgrind   gateway e2e subset under valgrind (leaks are errors), ~1 min
#   make bench      benchmarks (bench/README.md), not part of make test
#   make bench-peers  the benchmarks' Go bridge baseline (Go module proxy) in build/bench-peers
#   make bench-smoke  seconds: the bench's servers answer 202/401 as it needs (no load)
#   make browser-deps  playwright-core (npm ci in tests/browser) for the browser test in test-e2e
#   make screenshots   the console browser test, saving docs/console-*.png
#   make lint       banned functions, cppcheck; make format-check / make format: clang-format
#   make kafka      Apache Kafka's jars in build/kafka (Maven, once) for the real-Kafka tests
#   make sdk-interop  the CloudEvents SDK example consumers (examples/consumers/*) in build/sdk
#   make otlp-proto   the OTLP receiver's venv (opentelemetry-proto from PyPI) in build/otlp
VERSION   := 0.1.0
BUILD     ?= build
PREFIX    ?= /usr/local
CC        ?= cc
SAN       ?=
PYTHON    ?= /usr/bin/python3
PYTEST_JOBS ?= 4   # e2e tests are independent (own ports, dirs, clusters): run them in parallel

PKGS      := rdkafka libmicrohttpd gnutls libcjson avro-c yaml-0.1 libcurl libpcre2-8 openssl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wvla
CFLAGS    ?= -O2 -g
ifeq ($(SAN),1)
CFLAGS    := -O1 -g -fno-omit-frame-pointer
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# hookbus/fault.h: the error paths no input reaches, driven by HOOKBUS_FAULT
CFLAGS    += -DHB_FAULT_INJECTION
endif
# The libFuzzer flavour: everything instrumented, the fuzzer runtime linked
# only into the fuzz_* drivers.
ifeq ($(SAN),fuzz)
CC        := clang
CFLAGS    := -O1 -g -fno-omit-frame-pointer
SANFLAGS  := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
endif
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DHB_VERSION=\"$(VERSION)\" $(WARN) $(CFLAGS) $(SANFLAGS) \
             -Ilib/include -Ilib -Igateway $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS       = $(PKG_LIBS) -lpthread -lm
# Libraries only one binary needs (and the unit tests that include its files).
LIBS_poller = $(shell pkg-config --libs libgit2 2>/dev/null)

LIB_SRC   := $(wildcard lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/events_html.o
LIBA      := $(BUILD)/lib/libhookbus.a

GW_SRC    := $(wildcard gateway/*.c gateway/receivers/*.c)
GW_OBJ    := $(GW_SRC:%.c=$(BUILD)/obj/%.o)
GW_LIB_SRC := $(filter-out gateway/main.c,$(GW_SRC))
GW_LIB_OBJ := $(GW_LIB_SRC:%.c=$(BUILD)/obj/%.o)
# The console page (gateway/ui/console.html) compiled in as a C string.
UI_GEN    := $(BUILD)/gen/console_html.c
UI_OBJ    := $(BUILD)/obj/gen/console_html.o
GW_OBJ    += $(UI_OBJ)
GW_LIB_OBJ += $(UI_OBJ)

CONSUMERS := $(notdir $(wildcard consumers/*))
BINS      := $(BUILD)/bin/hookbus-gateway $(CONSUMERS:%=$(BUILD)/bin/hookbus-%) $(BUILD)/bin/mock-kafka

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_OBJ  := $(BUILD)/obj/fuzz/harness.o $(BUILD)/obj/fuzz/roundtrip.o
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/%)

.PHONY: all deps browser-deps screenshots run test test-unit test-e2e asan install dist check-deploy check-rules clean lint fuzz \
        fuzz-bins fuzz-smoke valgrind bench bench-peers bench-smoke format format-check kafka sdk-interop \
        otlp-proto
all: deps $(LIBA) $(BINS) $(UNIT_BINS)

# NODEPS=1 skips the package check (the Dockerfile's build stage installs its own list).
deps:
	@[ -n "$(NODEPS)" ] || scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# A page as a NUL-terminated C array: $(call embed,symbol,source).
embed = { echo '/* Generated from $(2) by the Makefile. */'; \
	  echo 'extern const char $(1)[];'; \
	  echo 'const char $(1)[] = {'; xxd -i < $(2); echo ', 0x00};'; } > $@.tmp && mv $@.tmp $@

$(UI_GEN): gateway/ui/console.html | deps
	@mkdir -p $(dir $@)
	$(call embed,gw_console_html,$<)

$(BUILD)/gen/events_html.c: lib/ui/events.html | deps
	@mkdir -p $(dir $@)
	$(call embed,hb_events_html,$<)

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/bin/hookbus-gateway: $(GW_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(GW_OBJ) $(LIBA) $(LIBS)

# A consumer is consumers/<name>/*.c linked with libhookbus.
define consumer_rule
$(BUILD)/bin/hookbus-$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard consumers/$(1)/*.c)) $(LIBA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIBA) $$(LIBS) $$(LIBS_$(1))
endef
$(foreach c,$(CONSUMERS),$(eval $(call consumer_rule,$(c))))

$(BUILD)/bin/mock-kafka: $(BUILD)/obj/tests/tools/mock_kafka.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

# Unit tests link the library and the gateway's objects (receivers are tested directly).
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIBA) $(GW_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(GW_LIB_OBJ) $(LIBA) $(LIBS) $(if $(filter poller_%,$*),$(LIBS_poller)) -lcmocka

$(BUILD)/fuzz_%: $(BUILD)/obj/fuzz/fuzz_%.o $(FUZZ_OBJ) $(LIBA) $(GW_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(GW_LIB_OBJ) $(LIBA) $(LIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz: deps
	$(MAKE) BUILD=build/fuzz SAN=fuzz fuzz-bins

# Each target over its committed seeds plus a fixed number of new runs.
fuzz-smoke: fuzz
	scripts/fuzz-smoke.sh build/fuzz

test-unit: all
	@fail=0; for t in $(UNIT_BINS); do \
	  HB_SOURCE_DIR=$(CURDIR) $$t || fail=1; done; exit $$fail

# playwright-core for the browser tests (tests/browser/package-lock.json);
# it drives Debian's chromium (scripts/install-deps.sh), never a downloaded one.
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json
$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json | deps
	cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts
	touch $@
browser-deps: $(BROWSER_DEPS)

screenshots: all browser-deps
	HOOKBUS_SCREENSHOTS=1 HOOKBUS_BIN_DIR=$(CURDIR)/$(BUILD)/bin $(PYTHON) -m pytest -q \
	  tests/e2e/test_console_browser.py tests/e2e/test_consumer_console.py::test_events_page_in_chromium

# Apache Kafka for the tests (tests/tools/kafka-cluster): the version pinned in
# tests/tools/kafka/pom.xml, resolved from Maven Central once into build/kafka
# (shared by every BUILD flavour).
KAFKA_STAMP := build/kafka/.stamp
$(KAFKA_STAMP): tests/tools/kafka/pom.xml | deps
	rm -rf build/kafka/libs
	mvn -q -B -Dstyle.color=never -f tests/tools/kafka/pom.xml -Dkafka.libs=$(CURDIR)/build/kafka/libs \
	   dependency:copy-dependencies
	touch $@
# Kafka 3.9, the last line that takes the SCRAM of Debian 12's librdkafka (2.0.2;
# Kafka 4 needs librdkafka >= 2.6.1 for SCRAM): the SCRAM-over-TLS test runs on it.
KAFKA_SCRAM_STAMP := build/kafka-3.9/.stamp
$(KAFKA_SCRAM_STAMP): tests/tools/kafka/pom.xml | deps
	rm -rf build/kafka-3.9/libs
	mvn -q -B -Dstyle.color=never -f tests/tools/kafka/pom.xml -Dkafka.version=3.9.1 \
	   -Dkafka.libs=$(CURDIR)/build/kafka-3.9/libs dependency:copy-dependencies
	touch $@
kafka: $(KAFKA_STAMP) $(KAFKA_SCRAM_STAMP)

# KAFKA=mock|real|both: the Kafka the suites marked real_kafka run against
# (README.md, "Against Apache Kafka"); test_real_kafka.py runs unless KAFKA=mock.
KAFKA ?= both
E2E_ARGS  ?=
test-e2e: all browser-deps $(KAFKA_STAMP) $(KAFKA_SCRAM_STAMP)
	HOOKBUS_BIN_DIR=$(CURDIR)/$(BUILD)/bin $(PYTHON) -m pytest -q -n $(PYTEST_JOBS) \
	   --kafka=$(KAFKA) $(E2E_ARGS) tests/e2e

test: all
	$(MAKE) lint format-check check-deploy check-rules
	$(MAKE) test-unit test-e2e
	$(MAKE) asan
	$(MAKE) fuzz-smoke
	$(MAKE) valgrind

valgrind: all
	scripts/valgrind-e2e.sh $(BUILD)/bin

# The benchmark peers (bench/peers: the Go bridge baseline), always in
# build/bench-peers; the first build fetches Go and confluent-kafka-go from
# the module proxy, later ones are cached there.
BENCH_PEERS := build/bench-peers
bench-peers: $(BENCH_PEERS)/gobridge
$(BENCH_PEERS)/gobridge: bench/peers/build.sh $(wildcard bench/peers/gobridge/*) | deps
	bench/peers/build.sh $(BENCH_PEERS)

# Seconds, no load: the gateway, the Go bridge and nginx answer as the bench
# needs (not part of make test: the first build of the bridge needs the proxy).
bench-smoke: all bench-peers
	$(PYTHON) bench/bench_gateway.py $(BUILD)/bin --peers $(BENCH_PEERS) --smoke

bench: all bench-peers
	bench/run.sh $(BUILD)/bin $(BENCH_PEERS)

# The sanitizer pass keeps to the mock for the shared suites (time); the
# real-Kafka-only tests still run under it.
# The sanitizer pass runs every suite that drives hookbus's C code in a way
# the others do not; it leaves out those whose subject is another program
# (the CloudEvents SDK readers, Chromium, Prometheus, the deployment files,
# the packaged tree, --help of each binary), which the normal pass runs, to
# keep `make test` within CI's time.
ASAN_E2E_SKIP := test_sdk_interop test_console_browser test_prometheus test_dashboard \
                 test_check_deploy test_dist test_help_keys
asan:
	$(MAKE) BUILD=build/asan SAN=1 KAFKA=mock \
	   E2E_ARGS="$(ASAN_E2E_SKIP:%=--ignore=tests/e2e/%.py)" test-unit test-e2e

run: all
	scripts/run-dev.sh $(BUILD)/bin

# The C sources of the tree, found without git (a tarball or a copy lints too).
C_SOURCES = $(shell find lib gateway consumers tests fuzz -name '*.[ch]' | sort)
BANNED    := strcpy|sprintf|strcat|atoi|atol|strtok|gets|vsprintf|sscanf|strncpy|strerror

# Banned functions: unbounded copies and formats (use hb_strlcpy, snprintf /
# hb_snprintf, hb_buf), unchecked conversions (hb_parse_long, hb_parse_ull,
# strtol with an end pointer), sscanf (silent partial matches), strtok and
# strerror (not thread-safe: hb_strerror / HB_STRERROR).
lint:
	@! grep -nE '\b($(BANNED))\s*\(' $(C_SOURCES) || { echo "lint: banned function above"; exit 1; }
	@# unknownEvaluationOrder: cppcheck 2.10 reads the designated initializers in
	@# HB_LOG's compound literals (.k = ...) as assignments with side effects.
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	   --suppress=unknownEvaluationOrder \
	   -Ilib/include lib gateway consumers

# Lists the C files that clang-format (.clang-format) would change; fails if any.
# `make format` rewrites them.
format-check: deps
	@bad=0; for f in $(C_SOURCES); do \
	   clang-format --style=file "$$f" | cmp -s "$$f" - || { echo "format-check: $$f"; bad=1; }; \
	done; [ $$bad = 0 ] || { echo "format-check: run make format"; exit 1; }

format: deps
	clang-format --style=file -i $(C_SOURCES)

# Installs binaries, libhookbus, headers and hookbus.pc under PREFIX, the example
# configs under SYSCONFDIR/hookbus (existing files are kept) and the schemas under
# PREFIX/share/hookbus/schemas, the Prometheus rules and the Grafana dashboard under
# PREFIX/share/hookbus/{prometheus,grafana}. Needs no test tools (cmocka): the image builds with it.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
install: $(LIBA) $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/hookbus \
	   $(DESTDIR)$(SYSCONFDIR)/hookbus $(DESTDIR)$(PREFIX)/share/hookbus/schemas \
	   $(DESTDIR)$(PREFIX)/share/hookbus/prometheus $(DESTDIR)$(PREFIX)/share/hookbus/grafana
	install -m 755 $(filter-out %/mock-kafka,$(BINS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 lib/include/hookbus/*.h $(DESTDIR)$(PREFIX)/include/hookbus/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@PKGS@|$(PKGS)|g' \
	   lib/hookbus.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hookbus.pc
	for f in config/*.yaml; do \
	   [ -e "$(DESTDIR)$(SYSCONFDIR)/hookbus/$${f#config/}" ] || \
	   install -m 644 "$$f" "$(DESTDIR)$(SYSCONFDIR)/hookbus/" || exit 1; done
	install -m 644 $(wildcard schemas/*.avsc schemas/*.json) $(DESTDIR)$(PREFIX)/share/hookbus/schemas/
	install -m 644 deploy/prometheus/hookbus-rules.yaml $(DESTDIR)$(PREFIX)/share/hookbus/prometheus/
	install -m 644 deploy/grafana/hookbus.json $(DESTDIR)$(PREFIX)/share/hookbus/grafana/

# The tree the Dockerfile's runtime stage copies, rebuilt from scratch each time
# (tests/e2e/test_dist.py runs the binaries from $(BUILD)/dist, beside $(BUILD)/bin).
test-e2e: dist
dist: $(LIBA) $(BINS)
	rm -rf $(BUILD)/dist
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(BUILD)/dist PREFIX=/usr

# The example consumers in Go, Java, Python and JavaScript on the official
# CloudEvents SDKs, which tests/e2e/test_sdk_interop.py runs against the gateway.
# Always in build/sdk (the asan pass reuses them); the first build fetches the
# SDKs from the registries, later ones are cached there.
SDK_DIR := build/sdk
SDK_LANGS := go java python js
SDK_RUNS := $(SDK_LANGS:%=$(SDK_DIR)/%/run)
sdk-interop: $(SDK_RUNS)
define sdk_rule
$(SDK_DIR)/$(1)/run: scripts/sdk-consumers.sh $(shell find examples/consumers/$(1) -type f \
                        -not -path '*/node_modules/*' -not -path '*/target/*' 2>/dev/null) | deps
	scripts/sdk-consumers.sh $(1) $(SDK_DIR)
endef
$(foreach l,$(SDK_LANGS),$(eval $(call sdk_rule,$(l))))
test-e2e: sdk-interop

# The OTLP receiver of tests/e2e/test_otlp.py decodes what the binaries export
# with the official opentelemetry-proto classes (PyPI, pinned), in a venv over
# Debian's python3.
OTLP_STAMP := build/otlp/.stamp
$(OTLP_STAMP): tests/tools/otlp-requirements.txt | deps
	rm -rf build/otlp/venv
	/usr/bin/python3 -m venv build/otlp/venv
	build/otlp/venv/bin/pip install -q --disable-pip-version-check --no-deps \
	    --cache-dir build/otlp/pip-cache -r tests/tools/otlp-requirements.txt
	touch $@
otlp-proto: $(OTLP_STAMP)
test-e2e: otlp-proto

# Cheap deployment checks, part of `make test` (scripts/check_deploy.py says what).
check-deploy: $(BINS)
	$(PYTHON) scripts/check_deploy.py --bin-dir $(BUILD)/bin

# The alerting and recording rules (deploy/prometheus/), checked and unit-tested
# with Debian's promtool; part of `make test`.
check-rules: deps
	promtool check rules deploy/prometheus/hookbus-rules.yaml
	promtool test rules deploy/prometheus/tests/*.yaml

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
