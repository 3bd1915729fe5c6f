#!/usr/bin/env python3
# md2man.py SOURCE.md OUTPUT VERSION [SCHEMA.xml…] — a man page (roff, man macros) from
# a small Markdown source, the one source of the man pages in data/man/. What it knows:
#
#   % NAME SECTION "one-line description"   first line: .TH and the NAME section
#   # HEADING / ## Subheading               .SH / .SS
#   a paragraph                             .PP (text lines join)
#   TERM (a line of its own, then)          .TP: a tagged paragraph, e.g. an option
#   :   its description (indented lines go on)
#   ```  …  ```                             a literal block (.nf, indented)
#   - item                                  a bulleted list
#   @settings SCHEMA-ID                     every key of that GSettings schema (from the
#                                           SCHEMA.xml files given): name, type,
#                                           default, summary and description
#   inline: `code` and **bold** → bold, *word* → italic
#
# Output is plain man(7) that groff and mandoc both read; nothing is run at view time.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import re
import sys
import xml.etree.ElementTree as ET


def escape(text):
    text = text.replace("\\", "\\e")
    out = []
    # Hyphens of options and code become \- (a real minus, so the page can be searched
    # and copied); hyphens inside ordinary words stay hyphens.
    for token in re.split(r"(\s+)", text):
        if token.startswith("-") or token.startswith("**-"):
            token = token.replace("-", "\\-")
        out.append(token)
    return "".join(out)


def inline(text):
    out = []
    for part in re.split(r"(`[^`]+`)", text):
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            code = part[1:-1].replace("\\", "\\e").replace("-", "\\-")
            out.append("\\fB" + code + "\\fR")
            continue
        part = escape(part)
        part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
        part = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", part)
        out.append(part)
    return "".join(out)


def line_out(text):
    # A line starting with . or ' would be a request.
    if text.startswith(".") or text.startswith("'"):
        return "\\&" + text
    return text


def settings(schema_id, schema_files):
    out = []
    for path in schema_files:
        root = ET.parse(path).getroot()
        for schema in root.iter("schema"):
            if schema.get("id") != schema_id:
                continue
            for key in schema.iter("key"):
                name = key.get("name")
                default = (key.findtext("default") or "").strip()
                summary = (key.findtext("summary") or "").strip()
                description = " ".join((key.findtext("description") or "").split())
                choices = [c.get("value") for c in key.iter("choice")]
                out.append(".TP")
                out.append("\\fB%s\\fR (%s, default \\fB%s\\fR)" % (
                    name.replace("-", "\\-"), key.get("type") or key.get("enum") or "",
                    escape(default)))
                text = summary.rstrip(".") + "." if summary else ""
                if description:
                    text += " " + description
                if choices:
                    text += " One of: " + ", ".join(choices) + "."
                out.append(line_out(escape(text)))
            return out
    sys.exit("md2man: schema %s not found in %s" % (schema_id, " ".join(schema_files)))


def convert(lines, version, schema_files):
    out = []
    first = lines[0].rstrip("\n")
    m = re.match(r'^%\s+(\S+)\s+(\S+)\s+"(.*)"\s*$', first)
    if not m:
        sys.exit("md2man: the first line must be: %% NAME SECTION \"description\"")
    name, section, description = m.groups()
    out.append('.TH "%s" "%s" "" "claude-sandbox %s" "claude-sandbox"'
               % (name.upper(), section, version))
    out.append(".SH NAME")
    out.append("%s \\- %s" % (name.replace("-", "\\-"), escape(description)))

    paragraph = []
    in_code = False
    in_definition = False

    def flush():
        nonlocal paragraph
        if paragraph:
            out.append(line_out(inline(" ".join(paragraph))))
            paragraph = []

    body = [raw.rstrip("\n") for raw in lines[1:]]
    for index, line in enumerate(body):
        following = body[index + 1] if index + 1 < len(body) else ""
        if in_code:
            if line.startswith("```"):
                out.append(".fi")
                out.append(".RE")
                in_code = False
            else:
                out.append(line_out(line.replace("\\", "\\e")))
            continue
        if line.startswith("```"):
            flush()
            out.append(".PP")
            out.append(".RS 4")
            out.append(".nf")
            in_code = True
            in_definition = False
            continue
        if not line.strip():
            flush()
            continue
        if line.startswith("## "):
            flush()
            out.append('.SS "%s"' % line[3:].strip())
            in_definition = False
        elif line.startswith("# "):
            flush()
            out.append('.SH "%s"' % line[2:].strip().upper())
            in_definition = False
        elif line.startswith("@settings "):
            flush()
            out.extend(settings(line.split()[1], schema_files))
            in_definition = False
        elif line.startswith(":   "):
            flush()
            paragraph.append(line[4:].strip())
            in_definition = True
        elif in_definition and line.startswith("    "):
            if not paragraph:
                out.append(".IP")   # a further paragraph of the same item
            paragraph.append(line.strip())
        elif line.startswith("- "):
            flush()
            out.append(".IP \\(bu 2")
            paragraph.append(line[2:].strip())
            in_definition = True
        elif following.startswith(":   ") and not paragraph:
            out.append(".TP")
            out.append(line_out(inline(line.strip())))
            in_definition = False
        else:
            if not paragraph or in_definition:
                flush()
                out.append(".PP")
            in_definition = False
            paragraph.append(line.strip())
    flush()
    if in_code:
        sys.exit("md2man: a code block is not closed")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: md2man.py SOURCE.md OUTPUT VERSION [SCHEMA.xml…]")
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.readlines()
    text = convert(lines, sys.argv[3], sys.argv[4:])
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
