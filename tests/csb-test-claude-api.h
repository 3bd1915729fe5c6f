/* csb-test-claude-api.h — a local stand-in for the Anthropic Messages API
 * (tests/claude-api-standin.py), so that the real Claude Code runs end to end in a
 * sandbox: its tool calls come from a script of turns, and what the tools returned
 * comes back to the test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "csb-test-utils.h"

G_BEGIN_DECLS

typedef struct _CsbTestClaudeApi CsbTestClaudeApi;

/* Starts the stand-in on 127.0.0.1 (a free port). @script_json: a JSON array of
 * turns, each an array of {"tool": NAME, "input": {…}} and {"text": "…"} blocks. */
CsbTestClaudeApi *csb_test_claude_api_start       (const char       *script_json,
                                                   GError          **error);
guint16           csb_test_claude_api_get_port    (CsbTestClaudeApi *self);
/* The tool results Claude Code sent back, in order (text of each; an error result
 * starts with "ERROR: "). */
GPtrArray        *csb_test_claude_api_tool_results (CsbTestClaudeApi *self);
/* How many requests of @path it answered. */
guint             csb_test_claude_api_count       (CsbTestClaudeApi *self,
                                                   const char       *path);
void              csb_test_claude_api_free        (CsbTestClaudeApi *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbTestClaudeApi, csb_test_claude_api_free)

/* A JSON string literal of @text (quotes included), to build scripts with. */
char             *csb_test_json_string            (const char       *text);

/* ---- the agent scenario ------------------------------------------------------------- */

/* Real Claude Code (`claude -p … --dangerously-skip-permissions`) in a sandbox of
 * @bus on @project, with @options (a{sv}, floating taken; backend etc.) plus a
 * filtered network that allows only the stand-in's name (allowed.csb.test, in
 * /etc/hosts): it Writes and Edits a file of the project, runs Bash that looks for
 * the host's home (an ssh key planted there), and Bash that plants a hook in its
 * ~/.claude. Checks that the file is in the project, the host home stayed
 * invisible and the host's ~/.claude unchanged. Skips without the test host names.
 * Returns the ended sandbox's object path (NULL when skipped). */
char             *csb_test_claude_agent_scenario  (CsbTestBus       *bus,
                                                   const char       *project,
                                                   GVariant         *options,
                                                   guint             timeout_ms);

G_END_DECLS
