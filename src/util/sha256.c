/* husk: SHA-256 (FIPS 180-4), portable C and x86-64 SHA extensions.  */
#include <stdlib.h>
#include <string.h>

#include "src/util/sha256.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_SHANI 1
#include <immintrin.h>
#else
#define HAVE_SHANI 0
#endif

typedef void (*sha256_blocks_fn) (uint32_t h[8], const unsigned char *p, size_t nblocks);

/* FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the
   cube roots of the first 64 primes.  16-byte aligned for the SHA-NI loads.  */
static const uint32_t sha256_k[64] __attribute__ ((aligned (16))) = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t
load_be32 (const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
store_be32 (unsigned char *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static inline uint32_t
rotr32 (uint32_t x, unsigned n)
{
  return (x >> n) | (x << (32 - n));
}

/* Section 6.2.2, with the message schedule computed up front.  */
static void
sha256_blocks_portable (uint32_t h[8], const unsigned char *p, size_t nblocks)
{
  for (; nblocks > 0; nblocks--, p += HUSK_SHA256_BLOCK_LEN)
    {
      uint32_t w[64];
      uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      int i;

      for (i = 0; i < 16; i++)
        w[i] = load_be32 (p + 4 * i);
      for (i = 16; i < 64; i++)
        {
          uint32_t s0 = rotr32 (w[i - 15], 7) ^ rotr32 (w[i - 15], 18) ^ (w[i - 15] >> 3);
          uint32_t s1 = rotr32 (w[i - 2], 17) ^ rotr32 (w[i - 2], 19) ^ (w[i - 2] >> 10);
          w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
      for (i = 0; i < 64; i++)
        {
          uint32_t big_s1 = rotr32 (e, 6) ^ rotr32 (e, 11) ^ rotr32 (e, 25);
          uint32_t ch = (e & f) ^ (~e & g);
          uint32_t t1 = hh + big_s1 + ch + sha256_k[i] + w[i];
          uint32_t big_s0 = rotr32 (a, 2) ^ rotr32 (a, 13) ^ rotr32 (a, 22);
          uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
          uint32_t t2 = big_s0 + maj;

          hh = g;
          g = f;
          f = e;
          e = d + t1;
          d = c;
          c = b;
          b = a;
          a = t1 + t2;
        }
      h[0] += a;
      h[1] += b;
      h[2] += c;
      h[3] += d;
      h[4] += e;
      h[5] += f;
      h[6] += g;
      h[7] += hh;
    }
}

#if HAVE_SHANI
/* The SHA extensions keep the eight working variables as two vectors,
   {A,B,E,F} and {C,D,G,H} from the high lane down: sha256rnds2 runs two
   rounds and returns the new ABEF, whose CDGH is the old ABEF, so the two
   vectors swap roles every call.  sha256msg1/msg2 compute four schedule words
   W[t..t+3] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16], with the
   W[t-7] term added in between.  */
__attribute__ ((target ("sha,sse4.1"))) static void
sha256_blocks_shani (uint32_t h[8], const unsigned char *p, size_t nblocks)
{
  /* Byte swap each 32-bit word: the message is big-endian.  */
  const __m128i bswap = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abcd = _mm_loadu_si128 ((const __m128i *)&h[0]); /* lanes A B C D */
  __m128i efgh = _mm_loadu_si128 ((const __m128i *)&h[4]); /* lanes E F G H */
  __m128i badc = _mm_shuffle_epi32 (abcd, 0xb1);           /* lanes B A D C */
  __m128i hgfe = _mm_shuffle_epi32 (efgh, 0x1b);           /* lanes H G F E */
  __m128i abef = _mm_alignr_epi8 (badc, hgfe, 8);          /* lanes F E B A */
  __m128i cdgh = _mm_blend_epi16 (hgfe, badc, 0xf0);       /* lanes H G D C */

  for (; nblocks > 0; nblocks--, p += HUSK_SHA256_BLOCK_LEN)
    {
      __m128i save_abef = abef, save_cdgh = cdgh;
      __m128i w[4];
      int g;

      for (g = 0; g < 4; g++)
        w[g] = _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *)(p + 16 * g)), bswap);

#pragma GCC unroll 16
      for (g = 0; g < 16; g++)
        {
          __m128i wk;

          if (g >= 4)
            {
              /* w[g & 3] holds W of group g - 4; the others g - 3 .. g - 1.  */
              __m128i t = _mm_sha256msg1_epu32 (w[g & 3], w[(g + 1) & 3]);
              t = _mm_add_epi32 (t, _mm_alignr_epi8 (w[(g + 3) & 3], w[(g + 2) & 3], 4));
              w[g & 3] = _mm_sha256msg2_epu32 (t, w[(g + 3) & 3]);
            }
          wk = _mm_add_epi32 (w[g & 3], _mm_load_si128 ((const __m128i *)&sha256_k[4 * g]));
          cdgh = _mm_sha256rnds2_epu32 (cdgh, abef, wk);
          /* The next two rounds take the high half of WK.  */
          abef = _mm_sha256rnds2_epu32 (abef, cdgh, _mm_shuffle_epi32 (wk, 0x0e));
          /* Now CDGH holds the ABEF of two rounds ago: just what the next
             call wants as its CDGH, and ABEF is current.  */
        }

      abef = _mm_add_epi32 (abef, save_abef);
      cdgh = _mm_add_epi32 (cdgh, save_cdgh);
    }

  {
    __m128i feba = _mm_shuffle_epi32 (abef, 0x1b); /* lanes A B E F */
    __m128i dchg = _mm_shuffle_epi32 (cdgh, 0xb1); /* lanes G H C D */
    abcd = _mm_blend_epi16 (feba, dchg, 0xf0);     /* lanes A B C D */
    efgh = _mm_alignr_epi8 (dchg, feba, 8);        /* lanes E F G H */
    _mm_storeu_si128 ((__m128i *)&h[0], abcd);
    _mm_storeu_si128 ((__m128i *)&h[4], efgh);
  }
}

static bool
cpu_has_shani (void)
{
  __builtin_cpu_init ();
  /* pshufb, palignr and pblendw come with SSSE3/SSE4.1; every CPU with SHA
     has them, but asking costs nothing.  */
  return __builtin_cpu_supports ("sha") && __builtin_cpu_supports ("sse4.1");
}
#endif

static sha256_blocks_fn sha256_selected;

static sha256_blocks_fn
sha256_auto (void)
{
  const char *forced = getenv ("HUSK_SHA256");

  if (forced != NULL && strcmp (forced, "portable") == 0)
    return sha256_blocks_portable;
#if HAVE_SHANI
  if (cpu_has_shani ())
    return sha256_blocks_shani;
#endif
  return sha256_blocks_portable;
}

/* Racing first calls store the same pointer.  */
static sha256_blocks_fn
sha256_blocks (void)
{
  sha256_blocks_fn fn = __atomic_load_n (&sha256_selected, __ATOMIC_RELAXED);

  if (fn == NULL)
    {
      fn = sha256_auto ();
      __atomic_store_n (&sha256_selected, fn, __ATOMIC_RELAXED);
    }
  return fn;
}

bool
husk_sha256_set_impl (enum husk_sha256_impl impl)
{
  sha256_blocks_fn fn;

  switch (impl)
    {
    case HUSK_SHA256_PORTABLE:
      fn = sha256_blocks_portable;
      break;
    case HUSK_SHA256_SHANI:
#if HAVE_SHANI
      if (!cpu_has_shani ())
        return false;
      fn = sha256_blocks_shani;
      break;
#else
      return false;
#endif
    default:
      fn = sha256_auto ();
      break;
    }
  __atomic_store_n (&sha256_selected, fn, __ATOMIC_RELAXED);
  return true;
}

const char *
husk_sha256_impl_name (void)
{
#if HAVE_SHANI
  if (sha256_blocks () == sha256_blocks_shani)
    return "sha-ni";
#endif
  return "portable";
}

/* Section 5.3.3.  */
void
husk_sha256_init (struct husk_sha256 *s)
{
  static const uint32_t h0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  };

  memcpy (s->h, h0, sizeof (h0));
  s->len = 0;
  s->buflen = 0;
}

void
husk_sha256_update (struct husk_sha256 *s, const void *data, size_t len)
{
  const unsigned char *p = data;
  sha256_blocks_fn blocks;

  if (len == 0)
    return;
  blocks = sha256_blocks ();
  s->len += len;
  if (s->buflen > 0)
    {
      size_t take = HUSK_SHA256_BLOCK_LEN - s->buflen;

      if (take > len)
        take = len;
      memcpy (s->buf + s->buflen, p, take);
      s->buflen += take;
      p += take;
      len -= take;
      if (s->buflen < HUSK_SHA256_BLOCK_LEN)
        return;
      blocks (s->h, s->buf, 1);
      s->buflen = 0;
    }
  if (len >= HUSK_SHA256_BLOCK_LEN)
    {
      size_t n = len / HUSK_SHA256_BLOCK_LEN;

      /* Whole blocks straight from the caller's memory, not copied.  */
      blocks (s->h, p, n);
      p += n * HUSK_SHA256_BLOCK_LEN;
      len -= n * HUSK_SHA256_BLOCK_LEN;
    }
  if (len > 0)
    {
      memcpy (s->buf, p, len);
      s->buflen = len;
    }
}

/* Section 5.1.1: a 1 bit, zeros, and the length in bits as 64 bits
   big-endian, ending on a block boundary.  */
void
husk_sha256_final (struct husk_sha256 *s, unsigned char out[HUSK_SHA256_DIGEST_LEN])
{
  sha256_blocks_fn blocks = sha256_blocks ();
  uint64_t bits = s->len * 8;
  int i;

  s->buf[s->buflen++] = 0x80;
  if (s->buflen > HUSK_SHA256_BLOCK_LEN - 8)
    {
      memset (s->buf + s->buflen, 0, HUSK_SHA256_BLOCK_LEN - s->buflen);
      blocks (s->h, s->buf, 1);
      s->buflen = 0;
    }
  memset (s->buf + s->buflen, 0, HUSK_SHA256_BLOCK_LEN - 8 - s->buflen);
  store_be32 (s->buf + HUSK_SHA256_BLOCK_LEN - 8, (uint32_t)(bits >> 32));
  store_be32 (s->buf + HUSK_SHA256_BLOCK_LEN - 4, (uint32_t)bits);
  blocks (s->h, s->buf, 1);
  for (i = 0; i < 8; i++)
    store_be32 (out + 4 * i, s->h[i]);
}
