.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

dev: ## Run API + worker (embedded Postgres unless DATABASE_URL is set)
	bash scripts/dev

test: ## Linters and the whole test suite
	bash scripts/test

lint: ## ruff, mypy --strict, import-linter
	uv run ruff check . && uv run ruff format --check . && uv run mypy && uv run lint-imports

migrate: ## alembic upgrade head on DATABASE_URL
	uv run pgjobs migrate

bench: ## POST /jobs throughput and latency (needs a Postgres on 127.0.0.1:5432)
	uv run python -m bench.api_create
