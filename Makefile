# termfleet — `make run` starts the daemon with the dashboard; `make test` runs every test.
NPM_STAMP := node_modules/.package-lock.json
ARGS ?=

.PHONY: install build run test test-unit test-smoke test-e2e typecheck bench clean

install: $(NPM_STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

build: install
	npm run build

run: build
	node dist/main.js daemon $(ARGS)

typecheck: install
	npx tsc --noEmit -p .
	npx tsc -p tsconfig.dashboard.json

test: build typecheck
	npx vitest run

test-unit: install
	npx vitest run test/unit test/contract

test-smoke: install
	npx vitest run test/integration/e2e-smoke.test.ts

test-e2e: build
	npx vitest run test/integration test/e2e

bench: install
	npm run bench

clean:
	rm -rf dist
