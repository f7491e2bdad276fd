# aggregen: one image for every service (workers, beat, coordinator, Flower).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md celeryconfig.py ./
COPY tasks ./tasks
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[monitor]"

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin aggregen
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "aggregen[monitor]" \
    && rm -rf /wheels
# The coordinator writes its report here; a named volume takes this owner.
RUN mkdir /reports && chown aggregen /reports
USER aggregen
WORKDIR /home/aggregen
ENV PYTHONUNBUFFERED=1
# Each compose service gives its own command, in exec form, so signals reach Celery directly.
CMD ["aggregen", "--help"]
