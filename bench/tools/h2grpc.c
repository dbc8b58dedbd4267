/*
 * h2grpc: a small gRPC-over-HTTP/2 load generator that rotates request
 * messages per call (h2load replays one body). One cleartext HTTP/2
 * connection carrying `concurrency` streams, as a gRPC channel does; closed
 * loop; warm-up then a measured window; bounded by time and stops by itself.
 *
 *   h2grpc HOST PORT PATH FRAMES_FILE CONCURRENCY WARMUP_MS DURATION_MS MIN_MESSAGE_BYTES
 *
 * FRAMES_FILE holds gRPC length-prefixed messages back to back. A call counts
 * as answered when its stream ends (END_STREAM); it is an error when it was
 * reset or its response carried fewer than MIN_MESSAGE_BYTES of message (a
 * gRPC error is a trailers-only response: no message at all). Response
 * headers are not decoded (the harness checks a sample with a real gRPC
 * client first). Prints one JSON line: rps, p50/p99 ms, errors.
 * Built by the harness with `cc -O2`; no library beyond libc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING 65536
#define MAX_FRAME 16384

typedef struct { uint32_t id; double start; uint64_t data; int live; } Stream;

static Stream ring[RING];
static unsigned char *frames; static size_t nframes; static size_t *offs, *lens;
static unsigned char *out; static size_t outlen, outcap;
static unsigned char inbuf[1 << 20]; static size_t inlen;
static unsigned char hblock[4096]; static size_t hlen;
static double *lat; static size_t nlat, latcap;
static uint64_t errors, resets, inflight, next_frame;
static uint32_t next_id = 1, max_streams = 0xffffffffu;
static int64_t conn_send_window = 65535, stream_init_window = 65535;
static uint64_t recv_unacked;
static int measuring, stopping;

static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static void die(const char *m) { fprintf(stderr, "h2grpc: %s (%s)\n", m, strerror(errno)); exit(2); }

static void put(const void *p, size_t n) {
  if (outlen + n > outcap) { outcap = (outlen + n) * 2; out = realloc(out, outcap); if (!out) die("oom"); }
  memcpy(out + outlen, p, n); outlen += n;
}
static void frame_header(uint32_t len, uint8_t type, uint8_t flags, uint32_t sid) {
  unsigned char h[9] = { len >> 16, len >> 8, len, type, flags, (sid >> 24) & 0x7f, sid >> 16, sid >> 8, sid };
  put(h, 9);
}
static void hpack_int(unsigned char first, int prefix, size_t v) {
  size_t max = (1u << prefix) - 1;
  if (v < max) { hblock[hlen++] = first | v; return; }
  hblock[hlen++] = first | max; v -= max;
  while (v >= 128) { hblock[hlen++] = (v & 0x7f) | 0x80; v >>= 7; }
  hblock[hlen++] = v;
}
static void hpack_str(const char *s) { size_t n = strlen(s); hpack_int(0, 7, n); memcpy(hblock + hlen, s, n); hlen += n; }

static void start_stream(void) {
  size_t f = next_frame++ % nframes;
  uint32_t sid = next_id; next_id += 2;
  Stream *s = &ring[(sid >> 1) % RING];
  if (s->live) { fprintf(stderr, "h2grpc: stream ring overflow\n"); exit(2); }
  s->id = sid; s->start = now_ms(); s->data = 0; s->live = 1;
  frame_header(hlen, 1, 0x4, sid); put(hblock, hlen);
  frame_header(lens[f], 0, 0x1, sid); put(frames + offs[f], lens[f]);
  conn_send_window -= lens[f];
  inflight++;
}
static int can_start(size_t concurrency) {
  return !stopping && inflight < concurrency && inflight < max_streams && conn_send_window >= (int64_t)lens[next_frame % nframes];
}
static void finish(Stream *s, int reset, uint64_t min_bytes) {
  if (!s->live) return;
  s->live = 0; inflight--;
  if (!measuring) return;
  if (nlat == latcap) { latcap = latcap ? latcap * 2 : 65536; lat = realloc(lat, latcap * sizeof *lat); if (!lat) die("oom"); }
  lat[nlat++] = now_ms() - s->start;
  if (reset) { resets++; errors++; } else if (s->data < 5 + min_bytes) errors++;
}
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static double pct(double p) { if (!nlat) return 0; size_t r = (size_t)((p / 100) * nlat + 0.999999); if (r < 1) r = 1; if (r > nlat) r = nlat; return lat[r - 1]; }

int main(int argc, char **argv) {
  if (argc != 9) { fprintf(stderr, "usage: h2grpc HOST PORT PATH FRAMES_FILE CONCURRENCY WARMUP_MS DURATION_MS MIN_MESSAGE_BYTES\n"); return 1; }
  const char *host = argv[1]; int port = atoi(argv[2]); const char *path = argv[3];
  size_t concurrency = strtoul(argv[5], 0, 10); double warmup = atof(argv[6]), duration = atof(argv[7]);
  uint64_t min_bytes = strtoull(argv[8], 0, 10);
  FILE *fp = fopen(argv[4], "rb"); if (!fp) die("frames file");
  fseek(fp, 0, SEEK_END); long size = ftell(fp); fseek(fp, 0, SEEK_SET);
  frames = malloc(size); if (fread(frames, 1, size, fp) != (size_t)size) die("read frames"); fclose(fp);
  for (size_t at = 0, cap = 0; at < (size_t)size;) {
    size_t len = 5 + ((size_t)frames[at + 1] << 24 | frames[at + 2] << 16 | frames[at + 3] << 8 | frames[at + 4]);
    if (len > MAX_FRAME || at + len > (size_t)size) { fprintf(stderr, "h2grpc: bad or oversized message at %zu\n", at); return 1; }
    if (nframes == cap) { cap = cap ? cap * 2 : 1024; offs = realloc(offs, cap * sizeof *offs); lens = realloc(lens, cap * sizeof *lens); }
    offs[nframes] = at; lens[nframes++] = len; at += len;
  }
  if (!nframes || !concurrency) { fprintf(stderr, "h2grpc: nothing to send\n"); return 1; }

  char authority[300]; snprintf(authority, sizeof authority, "%s:%d", host, port);
  hblock[hlen++] = 0x83;                       /* :method POST */
  hblock[hlen++] = 0x86;                       /* :scheme http */
  hpack_int(0x00, 4, 4); hpack_str(path);      /* :path, literal without indexing */
  hpack_int(0x00, 4, 1); hpack_str(authority); /* :authority */
  hpack_int(0x00, 4, 31); hpack_str("application/grpc");
  hblock[hlen++] = 0x00; hpack_str("te"); hpack_str("trailers");

  int fd = socket(AF_INET, SOCK_STREAM, 0); if (fd < 0) die("socket");
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("address (IPv4 literal only)");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
  int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, O_NONBLOCK);

  put("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
  unsigned char settings[] = { 0, 2, 0, 0, 0, 0, /* ENABLE_PUSH 0 */ 0, 4, 0x40, 0, 0, 0 /* INITIAL_WINDOW_SIZE 2^30 */ };
  frame_header(sizeof settings, 4, 0, 0); put(settings, sizeof settings);
  uint32_t inc = 0x7fffffff - 65535; unsigned char wu[4] = { inc >> 24, inc >> 16, inc >> 8, inc };
  frame_header(4, 8, 0, 0); put(wu, 4);

  double t0 = now_ms(), began = 0, hard_stop = t0 + warmup + duration + 30000;
  int got_settings = 0;
  for (;;) {
    double t = now_ms();
    if (!measuring && !stopping && t - t0 >= warmup) { measuring = 1; began = t; }
    if (measuring && t - began >= duration) { measuring = 0; stopping = 1; break; }
    if (t > hard_stop) { fprintf(stderr, "h2grpc: did not finish in time\n"); return 3; }
    while (got_settings && can_start(concurrency)) start_stream();
    struct pollfd p = { .fd = fd, .events = POLLIN | (outlen ? POLLOUT : 0) };
    if (poll(&p, 1, 50) < 0 && errno != EINTR) die("poll");
    if (p.revents & (POLLERR | POLLHUP)) { fprintf(stderr, "h2grpc: connection closed by the server\n"); return 2; }
    if (outlen && (p.revents & POLLOUT)) {
      ssize_t n = send(fd, out, outlen, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) die("send");
      if (n > 0) { memmove(out, out + n, outlen - n); outlen -= n; }
    }
    if (p.revents & POLLIN) {
      ssize_t n = recv(fd, inbuf + inlen, sizeof inbuf - inlen, 0);
      if (n == 0) { fprintf(stderr, "h2grpc: connection closed by the server\n"); return 2; }
      if (n < 0 && errno != EAGAIN) die("recv");
      if (n > 0) inlen += n;
      size_t at = 0;
      while (inlen - at >= 9) {
        unsigned char *h = inbuf + at;
        uint32_t len = h[0] << 16 | h[1] << 8 | h[2]; uint8_t type = h[3], flags = h[4];
        uint32_t sid = (h[5] & 0x7f) << 24 | h[6] << 16 | h[7] << 8 | h[8];
        if (len > sizeof inbuf - 9) { fprintf(stderr, "h2grpc: frame too large\n"); return 2; }
        if (inlen - at < 9 + len) break;
        unsigned char *pl = h + 9;
        Stream *s = sid ? &ring[(sid >> 1) % RING] : 0;
        if (s && s->id != sid) s = 0;
        switch (type) {
        case 0: /* DATA */
          recv_unacked += len;
          if (s) { size_t pad = (flags & 0x8) ? 1 + pl[0] : 0; s->data += len - pad; if (flags & 1) finish(s, 0, min_bytes); }
          break;
        case 1: case 9: /* HEADERS, CONTINUATION: only END_STREAM matters */
          if (s && type == 1 && (flags & 1)) finish(s, 0, min_bytes);
          break;
        case 3: if (s) finish(s, 1, min_bytes); break; /* RST_STREAM */
        case 4: /* SETTINGS */
          if (!(flags & 1)) {
            for (uint32_t i = 0; i + 6 <= len; i += 6) {
              uint16_t id = pl[i] << 8 | pl[i + 1]; uint32_t v = pl[i + 2] << 24 | pl[i + 3] << 16 | pl[i + 4] << 8 | pl[i + 5];
              if (id == 3) max_streams = v;
              if (id == 4) stream_init_window = v;
            }
            frame_header(0, 4, 1, 0); got_settings = 1;
          }
          break;
        case 6: if (!(flags & 1)) { frame_header(8, 6, 1, 0); put(pl, 8); } break; /* PING -> ACK */
        case 7: fprintf(stderr, "h2grpc: GOAWAY from the server\n"); return 2;
        case 8: if (!sid) conn_send_window += (pl[0] & 0x7f) << 24 | pl[1] << 16 | pl[2] << 8 | pl[3]; break;
        default: break;
        }
        at += 9 + len;
      }
      memmove(inbuf, inbuf + at, inlen - at); inlen -= at;
      if (recv_unacked > (1u << 28)) {
        unsigned char w[4] = { recv_unacked >> 24, recv_unacked >> 16, recv_unacked >> 8, recv_unacked };
        frame_header(4, 8, 0, 0); put(w, 4); recv_unacked = 0;
      }
    }
  }
  double seconds = (now_ms() - began) / 1e3;
  (void)stream_init_window;
  qsort(lat, nlat, sizeof *lat, cmp);
  printf("{\"requests\":%zu,\"seconds\":%.6f,\"rps\":%.3f,\"p50\":%.4f,\"p99\":%.4f,\"errors\":%llu,\"resets\":%llu}\n",
         nlat, seconds, nlat / seconds, pct(50), pct(99), (unsigned long long)errors, (unsigned long long)resets);
  close(fd);
  return 0;
}
