# Thin wrapper around CMake. `make demo` and `make test` are the two commands of the README.
BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
  BUILD := build-san
  CMAKE_FLAGS += -DVLE_SANITIZE=ON
endif

.PHONY: all deps configure build test demo fuzz clean difftest install uninstall

PREFIX ?= /usr/local

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# vlec, vle_data, libvlert + vle.h, the stdlib and the Python package under PREFIX
# (docs/python.md "Installing"); uninstall removes what the last install of $(BUILD) wrote.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

uninstall:
	@bash scripts/uninstall.sh $(BUILD)/install_manifest.txt

# The long differential test run (docs/testing.md): DT_COUNT more random models, resumable
# (the last seed done is kept in $(BUILD)/difftest.state; failing models go to
# $(BUILD)/difftest-failures/). DT_FLAGS turns on generator features (tests/difftest/dt_gen.h).
DT_COUNT ?= 2000
difftest: build
	cd $(BUILD) && nice ./difftest --count $(DT_COUNT) --state difftest$(DT_FLAGS).state \
	  --keep difftest-failures $(if $(DT_FLAGS),--flags $(DT_FLAGS))

demo: build
	@bash scripts/demo.sh $(BUILD)

fuzz: deps
	cmake -S . -B build-fuzz -DVLE_FUZZ=ON -DCMAKE_C_COMPILER=clang-19 -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-fuzz -j $(JOBS) --target fuzz_check fuzz_derive fuzz_npy fuzz_csv fuzz_state fuzz_desc

clean:
	rm -rf build build-san build-fuzz
