# Builds every Causeway bridge in the workspace; pick one per container with
# the command, e.g. `causeway-irc -c /data/config.yaml -r /registrations/irc.yaml`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins \
 && mkdir /out \
 && find target/release -maxdepth 1 -type f -name 'causeway-*' -perm -u+x ! -name 'causeway-testnet' ! -name 'causeway-bench' -exec cp {} /out/ \;

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
WORKDIR /data
VOLUME ["/data", "/registrations"]
