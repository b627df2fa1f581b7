# Build the module with cargo, then run it in the official Redis 7 image.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p vigil

FROM redis:7-bookworm
COPY --from=build /src/target/release/libvigil.so /usr/local/lib/redis/modules/libvigil.so
COPY redis.conf /usr/local/etc/redis/redis.conf
RUN sed -i 's#^loadmodule .*#loadmodule /usr/local/lib/redis/modules/libvigil.so#; s#^dir .*#dir /data#; s#^bind .*#bind 0.0.0.0 -::*#' /usr/local/etc/redis/redis.conf
EXPOSE 6379
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
