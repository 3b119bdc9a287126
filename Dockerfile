# Siyakha app image: `siyakha serve` (default) or `siyakha worker`.
# Multi-stage: build a wheel and compile catalogs, then a slim non-root runtime.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY api ./api
RUN pip install --no-cache-dir .
COPY . .
RUN python -m bot.i18n_tools compile

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 siyakha
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build --chown=siyakha:siyakha /src/alembic.ini ./
COPY --from=build --chown=siyakha:siyakha /src/migrations ./migrations
COPY --from=build --chown=siyakha:siyakha /src/content ./content
COPY --from=build --chown=siyakha:siyakha /src/locales ./locales
COPY --from=build --chown=siyakha:siyakha /src/bot ./bot
COPY --from=build --chown=siyakha:siyakha /src/api ./api
# The code runs from /app (PYTHONPATH ahead of site-packages), beside content/, locales/
# and migrations/, which it finds relative to itself.
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONUNBUFFERED=1 SIYAKHA_ENV=production
USER siyakha
EXPOSE 8000
# `siyakha serve` applies pending migrations before it listens.
CMD ["siyakha", "serve", "--host", "0.0.0.0", "--port", "8000"]
