# Sourced by the benchmark scripts: wait_port PORT waits up to 10 s for a
# server to listen on 127.0.0.1:PORT; it fails, saying so, if none does.
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
    sleep 0.05
  done
  echo "$(basename "$0"): nothing listens on port $1" >&2
  return 1
}
