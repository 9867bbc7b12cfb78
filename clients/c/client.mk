# client.mk: libpyrpool, the C client (clients/c, include/pyrpool/client.h);
# included by the top Makefile.
#   build/libpyrpool.a, build/libpyrpool.so (soname libpyrpool.so.0), build/pyrpool.pc
#   make client-c-test        the client's cmocka suite against the real daemon
#   make bench-client-c       build/bench-client-c (pipelined math.sqrt, one connection;
#                             also built by bench-bins)
#   make install-client-c [PREFIX=/usr/local] [DESTDIR=]   header, libraries, pyrpool.pc

CLIENT_C_VERSION := 0.1.0
CLIENT_C_SOMAJOR := 0
PREFIX           ?= /usr/local
CLIENT_C_SRC     := $(addprefix clients/c/,client.c calls.c wire.c dial.c hello.c errors.c value.c table.c) \
                    src/common/mpk.c
CLIENT_C_OBJ     := $(CLIENT_C_SRC:%.c=$(BUILD)/client-c/%.o)
CLIENT_C_CFLAGS   = $(CFLAGS_COMMON) -fPIC -fvisibility=hidden -Iinclude $(shell pkg-config --cflags msgpack)
CLIENT_C_LIBS     = $(shell pkg-config --libs msgpack)
CLIENT_C_SO      := $(BUILD)/libpyrpool.so.$(CLIENT_C_VERSION)
CLIENT_C_TEST_CFLAGS = $(CFLAGS_COMMON) -Iinclude -Iclients/c $(shell pkg-config --cflags msgpack cmocka)
CLIENT_C_TEST_LIBS   = $(LDFLAGS_SAN) $(shell pkg-config --libs msgpack cmocka) -pthread

.PHONY: client-c client-c-test bench-client-c install-client-c

all: client-c
client-c: $(BUILD)/libpyrpool.a $(BUILD)/libpyrpool.so $(BUILD)/pyrpool.pc $(BUILD)/pyrpool-uninstalled.pc

$(BUILD)/client-c/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CLIENT_C_CFLAGS) -MMD -MP -c -o $@ $<

# The archive holds one object, linked from all, whose hidden symbols (the
# library's internals: wire_*, table_*, mpk_*, ...) are made local, so that
# a program linking it statically sees only the pyrpool_* API, as with the
# shared library.
$(BUILD)/client-c/libpyrpool.o: $(CLIENT_C_OBJ)
	$(LD) -r -o $@.tmp $^
	objcopy --localize-hidden $@.tmp $@
	rm -f $@.tmp

$(BUILD)/libpyrpool.a: $(BUILD)/client-c/libpyrpool.o
	rm -f $@
	ar rcs $@ $<

$(CLIENT_C_SO): $(CLIENT_C_OBJ)
	$(CC) -shared -Wl,-soname,libpyrpool.so.$(CLIENT_C_SOMAJOR) -Wl,--no-undefined -o $@ $^ \
	    $(LDFLAGS_SAN) $(CLIENT_C_LIBS)

$(BUILD)/libpyrpool.so: $(CLIENT_C_SO)
	ln -sf libpyrpool.so.$(CLIENT_C_VERSION) $(BUILD)/libpyrpool.so.$(CLIENT_C_SOMAJOR)
	ln -sf libpyrpool.so.$(CLIENT_C_VERSION) $@

# pyrpool.pc for an installed library (PREFIX); pyrpool-uninstalled.pc, which
# pkg-config prefers when PKG_CONFIG_PATH holds build/, for this tree.
define CLIENT_C_PC
prefix=$(1)
includedir=$(2)
libdir=$(3)

Name: pyrpool
Description: C client library of pyrpoold (MessagePack-RPC Python worker pools)
Version: $(CLIENT_C_VERSION)
Requires: msgpack
Cflags: -I$${includedir}
Libs: -L$${libdir} -lpyrpool
endef

$(BUILD)/pyrpool.pc: clients/c/client.mk
	@mkdir -p $(@D)
	$(file >$@,$(call CLIENT_C_PC,$(PREFIX),$${prefix}/include,$${prefix}/lib))
	@echo "wrote $@"

$(BUILD)/pyrpool-uninstalled.pc: clients/c/client.mk
	@mkdir -p $(@D)
	$(file >$@,$(call CLIENT_C_PC,$(CURDIR),$${prefix}/include,$${prefix}/$(BUILD)))
	@echo "wrote $@"

install-client-c: client-c
	install -d $(DESTDIR)$(PREFIX)/include/pyrpool $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/pyrpool/client.h $(DESTDIR)$(PREFIX)/include/pyrpool/client.h
	install -m 644 $(BUILD)/libpyrpool.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(CLIENT_C_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libpyrpool.so.$(CLIENT_C_VERSION) $(DESTDIR)$(PREFIX)/lib/libpyrpool.so.$(CLIENT_C_SOMAJOR)
	ln -sf libpyrpool.so.$(CLIENT_C_VERSION) $(DESTDIR)$(PREFIX)/lib/libpyrpool.so
	sed "s|^prefix=.*|prefix=$(PREFIX)|" $(BUILD)/pyrpool.pc > $(DESTDIR)$(PREFIX)/lib/pkgconfig/pyrpool.pc

# The suite links the library's objects (it also reaches the wire decoder
# the client uses, for the shared vectors, and the hello check); the example
# links the shared library through pkg-config, as a user would.
$(BUILD)/test_client_c: tests/clients/c/test_client.c $(CLIENT_C_OBJ)
	$(CC) $(CLIENT_C_TEST_CFLAGS) -o $@ $< $(CLIENT_C_OBJ) $(CLIENT_C_TEST_LIBS)

$(BUILD)/example-client-c: clients/c/example.c $(BUILD)/libpyrpool.so $(BUILD)/pyrpool-uninstalled.pc
	$(CC) $(CFLAGS_COMMON) -o $@ $< $(LDFLAGS_SAN) \
	    $$(PKG_CONFIG_PATH=$(BUILD) pkg-config --cflags --libs pyrpool) -Wl,-rpath,'$$ORIGIN'

client-c-test: all $(BUILD)/test_client_c $(BUILD)/example-client-c
	@echo "== test_client_c"
	timeout 300 ./$(BUILD)/test_client_c

bench-client-c: $(BUILD)/bench-client-c
bench-bins: $(BUILD)/bench-client-c

$(BUILD)/bench-client-c: bench/client_c.c $(BUILD)/libpyrpool.a
	$(CC) $(CLIENT_C_TEST_CFLAGS) -o $@ $< $(BUILD)/libpyrpool.a $(LDFLAGS_SAN) $(CLIENT_C_LIBS) -lm

-include $(CLIENT_C_OBJ:.o=.d)
