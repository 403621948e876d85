# Multi-stage build: compile with the pinned toolchain, ship a small Debian image with the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p licentia

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/licentia --create-home licentia
COPY --from=build /src/target/release/licentia /usr/local/bin/licentia
USER licentia
WORKDIR /var/lib/licentia
ENV LICENTIA_LISTEN=0.0.0.0:8080 LICENTIA_DATA_DIR=/var/lib/licentia
EXPOSE 8080
ENTRYPOINT ["licentia"]
CMD ["serve"]
