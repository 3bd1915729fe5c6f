/* csb-libvirt.c — the connection (with libvirt-glib's event loop), libvirt's errors
 * as GErrors, the domain XML's common parts and the Claude home's write-back.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <libvirt/virterror.h>
#include <libvirt-glib/libvirt-glib.h>

#include "csb-module-api.h"
#include "csb-libvirt.h"

static void
ignore_error (void       *user_data,
              virErrorPtr error)
{
}

static void
ensure_event_loop (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      /* Errors go into GErrors, not onto stderr. */
      virSetErrorFunc (NULL, ignore_error);
      gvir_event_register ();
      g_once_init_leave (&done, 1);
    }
}

void
csb_libvirt_set_error (GError    **error,
                       int         code,
                       const char *what)
{
  virErrorPtr err = virGetLastError ();

  g_set_error (error, CSB_ERROR, code, "%s: %s", what,
               err && err->message ? err->message : "unknown libvirt error");
}

virConnectPtr
csb_libvirt_open (const char *uri,
                  GError    **error)
{
  virConnectPtr conn;

  ensure_event_loop ();
  conn = virConnectOpen (uri);
  if (conn == NULL)
    {
      g_autofree char *what = g_strdup_printf ("cannot connect to libvirt at %s", uri);
      csb_libvirt_set_error (error, CSB_ERROR_BACKEND_UNAVAILABLE, what);
    }
  return conn;
}

/* ---- the domain XML ----------------------------------------------------------------- */

void
csb_libvirt_xml_append (GString    *xml,
                        const char *format,
                        ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_markup_vprintf_escaped (format, args);
  va_end (args);
  g_string_append (xml, text);
}

void
csb_libvirt_xml_append_identity (GString    *xml,
                                 const char *name,
                                 const char *title,
                                 const char *sandbox_id,
                                 const char *project_dir,
                                 const char *key,
                                 const char *ns)
{
  csb_libvirt_xml_append (xml, "  <name>%s</name>\n", name);
  csb_libvirt_xml_append (xml, "  <title>claude-sandbox: %s</title>\n", title);
  csb_libvirt_xml_append (xml, "  <description>Sandbox %s on %s, run by claude-sandbox"
                               "</description>\n",
                          sandbox_id, project_dir ? project_dir : "");
  csb_libvirt_xml_append (xml, "  <metadata>\n"
                               "    <csb:%s xmlns:csb='%s'>\n"
                               "      <csb:id>%s</csb:id>\n"
                               "      <csb:project>%s</csb:project>\n"
                               "    </csb:%s>\n"
                               "  </metadata>\n",
                          key, ns, sandbox_id, project_dir ? project_dir : "", key);
}

/* ---- the end ------------------------------------------------------------------------ */

void
csb_libvirt_write_back_claude_home (const char *project_dir,
                                    const char *sandbox_id)
{
  g_autoptr(GError) error = NULL;

  /* What the sandbox wrote is hostile: a refusal is logged, never fatal. */
  if (!csb_claude_home_write_back (project_dir, &error))
    g_message ("sandbox %s: its login was not written back: %s", sandbox_id, error->message);
}
