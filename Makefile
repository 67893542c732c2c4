# pgmq_c: PGXS build.
#
#   make && sudo make install        build and install into pg_config's server
#   sudo make install-companion      optional: extension "pgmq" for pgmq clients
#                                    that create it (companion/; README)
#   make installcheck                every test layer, each on a private
#                                    temporary server with pgmq_c preloaded
#                                    (run as a user that may start Postgres)
#   make WERROR=1                    what CI builds: warnings are errors

EXTENSION = pgmq_c
MODULE_big = pgmq_c
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = $(sort $(wildcard sql/pgmq_c--*.sql))
PGFILEDESC = "pgmq_c - durable message queues for PostgreSQL"

PG_CONFIG ?= pg_config

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-clobbered
ifdef WERROR
PG_CFLAGS += -Werror
endif

TEST_CONFIG = $(srcdir)/test/pgmq_c.conf

# pg_regress: one file per area of the SQL API, in sql/ and expected/.
REGRESS = install names queues send read ack metrics untyped bad_input cache privileges hardening policies redrive partitioned notify stats fifo topics dedup grants search_path
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=$(TEST_CONFIG) --encoding=UTF8

# Isolation specs: test/isolation/specs/*.spec, expected in test/isolation/expected/.
ISOLATION = $(sort $(basename $(notdir $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation --temp-instance=tmp_check_iso \
	--temp-config=$(TEST_CONFIG)

# TAP tests (PostgreSQL::Test::Cluster): restarts and crashes.
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = test/bench/results

# The temporary servers take their locale from the environment (pg_regress
# drops LC_ALL, keeping LANG and LC_*), and the tests expect Unicode case
# mapping (lower('Ⱥ') is 'ⱥ'), whatever the caller's locale is.
installcheck: export LANG = C.UTF-8
installcheck: export LC_CTYPE = C.UTF-8
installcheck: export LC_COLLATE = C.UTF-8

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS knows nothing of our headers: every object depends on all of them,
# so a changed struct never leaves a stale object behind.
$(OBJS) $(OBJS:.o=.bc): $(wildcard $(srcdir)/src/*.h)

# `make -s print-REGRESS` prints a variable as make sees it: scripts/test
# uses it to know how many tests each layer must run.
print-%:
	@echo '$($*)'

# The optional companion extension "pgmq" (companion/): CREATE EXTENSION pgmq
# then gives pgmq_c, so pgmq clients and migrations that create extension
# pgmq work unchanged.  It shares its file names with pgmq's own extension,
# so both targets leave alone any pgmq file that is not ours (ours carry the
# line "pgmq_c companion").
COMPANION_DIR = $(DESTDIR)$(datadir)/extension
COMPANION_FILES = $(wildcard $(srcdir)/companion/pgmq.control $(srcdir)/companion/pgmq--*.sql)

.PHONY: install-companion uninstall-companion
install-companion:
	@foreign=$$(cd '$(COMPANION_DIR)' 2>/dev/null && for f in pgmq.control pgmq--*.sql; do \
		[ -f "$$f" ] && ! grep -q 'pgmq_c companion' "$$f" && echo "$$f"; done); \
	if [ -n "$$foreign" ]; then \
		echo "error: pgmq (the SQL extension) is installed in $(COMPANION_DIR):" $$foreign >&2; \
		echo "The companion extension pgmq would replace its files, and the two cannot both answer to CREATE EXTENSION pgmq." >&2; \
		echo "Uninstall pgmq first, or keep using it and do not install the companion." >&2; \
		exit 1; \
	fi
	$(MKDIR_P) '$(COMPANION_DIR)'
	$(INSTALL_DATA) $(COMPANION_FILES) '$(COMPANION_DIR)/'

uninstall-companion:
	@cd '$(COMPANION_DIR)' 2>/dev/null || exit 0; \
	for f in pgmq.control pgmq--*.sql; do \
		[ -f "$$f" ] || continue; \
		if grep -q 'pgmq_c companion' "$$f"; then rm -f "$$f" && echo "removed $(COMPANION_DIR)/$$f"; \
		else echo "left $(COMPANION_DIR)/$$f alone: it belongs to pgmq, not to the companion" >&2; fi; \
	done
