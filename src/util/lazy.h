/* husk: libraries opened with dlopen at their first use.

   libcurl and libarchive pull in some forty shared libraries (TLS, Kerberos,
   LDAP, ICU, XML...) whose loading and relocation cost more than a whole
   `husk run` of a local image.  So husk does not link them: src/util/lazy-*.c
   define every function husk calls, with the library's own prototype, and
   each resolves the real one on its first call.  */
#ifndef HUSK_UTIL_LAZY_H
#define HUSK_UTIL_LAZY_H

struct husk_lazy_lib
{
  const char *soname;
  /* The Debian package to install, named in the error when it is missing.  */
  const char *package;
  /* Run once, after the library is loaded and before its first function.  */
  void (*after_load) (void);
  void *handle;
};

/* The address of NAME in LIB, opening LIB on the first call.  Both failures
   end the process with status 125: no caller could do anything but fail.  */
void *husk_lazy_sym (struct husk_lazy_lib *lib, const char *name);

/* The real NAME as a pointer of its declared type, looked up once.  Racing
   first calls store the same value, so an atomic pointer is enough.  */
#define HUSK_LAZY_REAL(lib, name)                                                                            \
  ({                                                                                                         \
    static __typeof__ (name) *husk_lazy_real_;                                                               \
    __typeof__ (name) *husk_lazy_fn_ = __atomic_load_n (&husk_lazy_real_, __ATOMIC_ACQUIRE);                 \
    if (husk_lazy_fn_ == NULL)                                                                               \
      {                                                                                                      \
        husk_lazy_fn_ = (__typeof__ (name) *)husk_lazy_sym (&(lib), #name);                                  \
        __atomic_store_n (&husk_lazy_real_, husk_lazy_fn_, __ATOMIC_RELEASE);                                \
      }                                                                                                      \
    husk_lazy_fn_;                                                                                           \
  })

/* A definition of NAME that calls the real one.  PARAMS must match the
   library header's prototype, which the compiler checks.  */
#define HUSK_LAZY_FN(lib, ret, name, params, args)                                                           \
  ret name params                                                                                            \
  {                                                                                                          \
    return HUSK_LAZY_REAL (lib, name) args;                                                                  \
  }

#define HUSK_LAZY_VOID_FN(lib, name, params, args)                                                           \
  void name params                                                                                           \
  {                                                                                                          \
    HUSK_LAZY_REAL (lib, name) args;                                                                         \
  }

#endif
