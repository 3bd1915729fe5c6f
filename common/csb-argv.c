/* csb-argv.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "csb-argv.h"

CsbArgv *
csb_argv_new (void)
{
  CsbArgv *self = g_new0 (CsbArgv, 1);

  self->argv = g_ptr_array_new_with_free_func (g_free);
  self->source_fds = g_array_new (FALSE, FALSE, sizeof (int));
  self->target_fds = g_array_new (FALSE, FALSE, sizeof (int));
  self->next_target = 3;
  return self;
}

void
csb_argv_free (CsbArgv *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->source_fds->len; i++)
    close (g_array_index (self->source_fds, int, i));
  g_ptr_array_unref (self->argv);
  g_array_unref (self->source_fds);
  g_array_unref (self->target_fds);
  g_free (self);
}

static void
drop_terminator (CsbArgv *self)
{
  if (self->argv->len > 0 && g_ptr_array_index (self->argv, self->argv->len - 1) == NULL)
    g_ptr_array_set_size (self->argv, self->argv->len - 1);
}

void
csb_argv_add (CsbArgv    *self,
              const char *arg)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (arg != NULL);

  drop_terminator (self);
  g_ptr_array_add (self->argv, g_strdup (arg));
}

void
csb_argv_add_args (CsbArgv *self,
                   ...)
{
  va_list ap;
  const char *arg;

  va_start (ap, self);
  while ((arg = va_arg (ap, const char *)) != NULL)
    csb_argv_add (self, arg);
  va_end (ap);
}

void
csb_argv_addf (CsbArgv    *self,
               const char *format,
               ...)
{
  va_list ap;

  drop_terminator (self);
  va_start (ap, format);
  g_ptr_array_add (self->argv, g_strdup_vprintf (format, ap));
  va_end (ap);
}

void
csb_argv_add_strv (CsbArgv            *self,
                   const char * const *args)
{
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    csb_argv_add (self, args[i]);
}

/* Takes ownership of @fd; returns the fd number the child will see it as. */
int
csb_argv_take_fd (CsbArgv *self,
                  int      fd)
{
  int target = self->next_target;

  csb_argv_take_fd_as (self, fd, target);
  return target;
}

void
csb_argv_take_fd_as (CsbArgv *self,
                     int      fd,
                     int      target)
{
  g_return_if_fail (fd >= 0);
  g_return_if_fail (target >= 0);

  g_array_append_val (self->source_fds, fd);
  g_array_append_val (self->target_fds, target);
  if (target >= self->next_target)
    self->next_target = target + 1;
}

/* Moves @other's fds (with their target numbers) into @self. */
void
csb_argv_append_fds_of (CsbArgv *self,
                        CsbArgv *other)
{
  for (guint i = 0; i < other->source_fds->len; i++)
    csb_argv_take_fd_as (self,
                         g_array_index (other->source_fds, int, i),
                         g_array_index (other->target_fds, int, i));
  g_array_set_size (other->source_fds, 0);
  g_array_set_size (other->target_fds, 0);
}

guint
csb_argv_get_len (CsbArgv *self)
{
  drop_terminator (self);
  return self->argv->len;
}

const char *
csb_argv_get (CsbArgv *self,
              guint    i)
{
  drop_terminator (self);
  g_return_val_if_fail (i < self->argv->len, NULL);
  return g_ptr_array_index (self->argv, i);
}

gboolean
csb_argv_contains (CsbArgv    *self,
                   const char *arg)
{
  drop_terminator (self);
  for (guint i = 0; i < self->argv->len; i++)
    if (g_strcmp0 (g_ptr_array_index (self->argv, i), arg) == 0)
      return TRUE;
  return FALSE;
}

/* The arguments as bwrap's --args FD reads them: each one followed by a NUL. */
GBytes *
csb_argv_to_nul_data (CsbArgv *self)
{
  GByteArray *data = g_byte_array_new ();

  drop_terminator (self);
  for (guint i = 0; i < self->argv->len; i++)
    {
      const char *arg = g_ptr_array_index (self->argv, i);
      g_byte_array_append (data, (const guint8 *) arg, strlen (arg) + 1);
    }
  return g_byte_array_free_to_bytes (data);
}

const char * const *
csb_argv_finish (CsbArgv *self)
{
  drop_terminator (self);
  g_ptr_array_add (self->argv, NULL);
  return (const char * const *) self->argv->pdata;
}
