# Build the module with cargo, then run it in the official Redis 7 image (the last stage).
FROM rust:1-bookworm AS build
# redis-server, redis-tools and llvm-tools: the profile-guided build's training run
# (scripts/build.sh, as `make build`; without them it makes the plain module).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev clang redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/*
RUN rustup component add llvm-tools || true
WORKDIR /src
COPY . .
RUN ./scripts/build.sh --locked -p vigil

# vigil-notify, the bridge from Vigil's change feed to Alertmanager (client/src/notify), in an
# image of its own: `docker build --target notify .` (deploy/docker-compose.yml does). The
# last stage stays Redis with the module, so a plain `docker build .` builds that.
FROM build AS notify-build
RUN cargo build --release --locked -p vigil-client --bin vigil-notify

FROM debian:bookworm-slim AS notify
COPY --from=notify-build /src/target/release/vigil-notify /usr/local/bin/vigil-notify
# The cursor files live in /var/lib/vigil-notify (a volume), owned by the user it runs as.
RUN useradd --system --home-dir /var/lib/vigil-notify --shell /usr/sbin/nologin vigil \
 && mkdir -p /var/lib/vigil-notify \
 && chown vigil /var/lib/vigil-notify
USER vigil
ENV VIGIL_NOTIFY_STATE_DIR=/var/lib/vigil-notify
ENTRYPOINT ["vigil-notify"]

FROM redis:7-bookworm
COPY --from=build /src/target/release/libvigil.so /usr/local/lib/redis/modules/libvigil.so
COPY redis.conf /usr/local/etc/redis/redis.conf
RUN sed -i 's#^loadmodule .*#loadmodule /usr/local/lib/redis/modules/libvigil.so#; s#^dir .*#dir /data#; s#^bind .*#bind 0.0.0.0 -::*#' /usr/local/etc/redis/redis.conf
EXPOSE 6379
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
