# hookbus: one image with every binary (hookbus-gateway, hookbus-tail and the
# consumers). The build stage compiles and runs `make install` into /out; the
# runtime stage is Debian 12 slim with only the shared libraries those binaries
# load, plus curl for the health check and tini as PID 1.
#
#   docker build -t hookbus .
#   docker run --rm -p 8080:8080 -e GITHUB_WEBHOOK_SECRET=... hookbus      # the gateway
#   docker run --rm hookbus hookbus-tail --brokers kafka:9092                # any other binary
#
# `make dist` builds the same install tree outside Docker (build/dist) and
# tests/e2e/test_dist.py runs it; scripts/check-deploy.sh checks that the
# runtime package list below covers every library the binaries link.

ARG DEBIAN_RELEASE=bookworm

FROM debian:${DEBIAN_RELEASE} AS build
# The -dev packages of Makefile's PKGS (scripts/install-deps.sh has the full
# development list, with the test tools this stage does not need).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config make ca-certificates \
      librdkafka-dev libmicrohttpd-dev libgnutls28-dev libssl-dev libcjson-dev libavro-dev \
      libyaml-dev libcurl4-openssl-dev libpcre2-dev libgit2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# NODEPS=1: the packages are installed above; `make install` builds only the
# binaries and the library (no unit tests).
RUN make NODEPS=1 -j"$(nproc)" install DESTDIR=/out PREFIX=/usr

FROM debian:${DEBIAN_RELEASE}-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="hookbus" \
      org.opencontainers.image.description="Webhook gateway to CloudEvents on Kafka, and its consumers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# runtime-packages-begin (scripts/check-deploy.sh reads this list)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libmicrohttpd12 libcjson1 libavro23 libyaml-0-2 libcurl4 libpcre2-8-0 \
      libssl3 libgnutls30 libgit2-1.5 ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/*
# runtime-packages-end
RUN groupadd --system --gid 10001 hookbus \
 && useradd --system --uid 10001 --gid hookbus --home-dir /var/lib/hookbus --no-create-home \
      --shell /usr/sbin/nologin hookbus \
 && install -d -o hookbus -g hookbus -m 0750 /var/lib/hookbus /var/lib/hookbus/spool
COPY --from=build /out/ /

# Every binary that reads a config serves /healthz, /readyz and /metrics on
# admin_listen; this makes it 0.0.0.0:9090 in the container (the gateway then
# serves them there instead of on its webhook listener, so an ingress that
# exposes 8080 does not expose /metrics). Override with -e or in the config.
ENV HOOKBUS_ADMIN_LISTEN=0.0.0.0:9090
# Where an accepted event waits while Kafka is unreachable: keep it on a volume.
VOLUME ["/var/lib/hookbus/spool"]
# 8080: webhooks over HTTP (TLS at the ingress), 8443: webhooks over TLS, 9090: admin.
EXPOSE 8080 8443 9090
USER 10001:10001
WORKDIR /var/lib/hookbus
# hookbus-tail has no admin listener: run it with --no-healthcheck (or healthcheck: disable).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["sh", "-c", "exec curl -fsS -o /dev/null --max-time 2 \"${HOOKBUS_HEALTHCHECK_URL:-http://127.0.0.1:9090/healthz}\""]
# tini reaps children (hookbus-exec runs commands) and forwards SIGTERM.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["hookbus-gateway", "--config", "/etc/hookbus/gateway.yaml"]
