# A static slacker-lua serving the Lua namespaces mounted at
# /srv/slacker-lua, as a user without privileges:
#
#   docker build -t slacker-lua .
#   docker run -v $PWD/examples/lua:/srv/slacker-lua -p 2104:2104 -p 2105:2105 slacker-lua
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/slacker-lua ./cmd/slacker-lua

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/slacker-lua /usr/local/bin/slacker-lua
COPY examples/lua /srv/slacker-lua
USER nonroot:nonroot
EXPOSE 2104 2105
ENTRYPOINT ["/usr/local/bin/slacker-lua"]
CMD ["serve", "--listen", ":2104", "--http", ":2105", "--log-format", "json", "/srv/slacker-lua"]
