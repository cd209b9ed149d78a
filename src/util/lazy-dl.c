/* husk: the dlopen side of the lazily loaded libraries (see lazy.h).  */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "src/util/lazy.h"

/* One lock for every library: it is taken only until each function's pointer
   is cached, a few dozen times per process.  */
static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
lazy_open (struct husk_lazy_lib *lib)
{
  void *handle;

  pthread_mutex_lock (&lazy_lock);
  handle = lib->handle;
  if (handle == NULL)
    {
      /* RTLD_LOCAL: the library's symbols must not interpose on husk's
         wrappers of the same names, nor be seen by later dlopens.  */
      handle = dlopen (lib->soname, RTLD_NOW | RTLD_LOCAL);
      if (handle == NULL)
        {
          fprintf (stderr, "Error: cannot load %s (install %s): %s\n", lib->soname, lib->package, dlerror ());
          exit (125);
        }
      if (lib->after_load != NULL)
        lib->after_load ();
      __atomic_store_n (&lib->handle, handle, __ATOMIC_RELEASE);
    }
  pthread_mutex_unlock (&lazy_lock);
  return handle;
}

void *
husk_lazy_sym (struct husk_lazy_lib *lib, const char *name)
{
  void *handle = __atomic_load_n (&lib->handle, __ATOMIC_ACQUIRE);
  void *sym;

  if (handle == NULL)
    handle = lazy_open (lib);
  dlerror ();
  sym = dlsym (handle, name);
  if (sym == NULL)
    {
      const char *msg = dlerror ();
      fprintf (stderr, "Error: %s has no %s: %s\n", lib->soname, name, msg ? msg : "NULL symbol");
      exit (125);
    }
  return sym;
}
