/*
 * test_docs.c - the documentation stays true to the tree and to vlec. Over every Markdown
 * file of the repository (README.md, docs/, examples/, stdlib/, bench/):
 *
 *   links     every relative link ([text](target), ![alt](target), [ref]: target) resolves to
 *             a file or directory inside the repository, and an anchor (#name) on a Markdown
 *             target names one of its headings (GitHub's heading slugs);
 *   paths     every repository path the text names (a word with a '/' ending in .md, .c, .h,
 *             .vle, .sh or .py, e.g. docs/theory.md or tests/test_golden.c) exists, relative
 *             to the repository root or to the file;
 *   commands  every `vlec` command line quoted in a fenced block or a code span names a
 *             subcommand that vlec has and only options that this subcommand's help lists.
 *             Both come from vlec itself (`vlec --help`, `vlec help CMD`), not from a list
 *             here, so a new option only needs to be in the help to be quotable.
 *
 * Every problem is reported with its file and line, all of them in one run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* nftw's FTW_ACTIONRETVAL, realpath */
#endif
#include <criterion/criterion.h>
#include <ctype.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small helpers ------------------------------------------------------------------- */

typedef struct td_list {
  char **v;
  int n, cap;
} td_list;

static void td_push(td_list *l, const char *s, size_t len) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
    cr_assert_not_null(l->v);
  }
  l->v[l->n] = strndup(s, len);
  cr_assert_not_null(l->v[l->n]);
  l->n++;
}

static bool td_has(const td_list *l, const char *s) {
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->v[i], s)) return true;
  return false;
}

static void td_free(td_list *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  *l = (td_list){ 0 };
}

/* Problems found, one line each, printed together by the test that collected them. */
typedef struct td_report {
  char *text;
  size_t len, cap;
  int n;
} td_report;

static void td_note(td_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void td_note(td_report *r, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t n = strlen(line);
  if (r->len + n + 2 > r->cap) {
    r->cap = 2 * r->cap + n + 4096;
    r->text = realloc(r->text, r->cap);
    cr_assert_not_null(r->text);
  }
  memcpy(r->text + r->len, line, n);
  r->len += n;
  r->text[r->len++] = '\n';
  r->text[r->len] = '\0';
  r->n++;
}

static const char *td_report_text(const td_report *r) { return r->text ? r->text : ""; }

static char *td_read(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  char *buf = NULL;
  size_t len = 0, cap = 0, got;
  do {
    if (cap - len < 4096) buf = realloc(buf, cap = 2 * cap + 4096);
    cr_assert_not_null(buf);
    got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
  } while (got > 0);
  fclose(f);
  buf[len] = '\0';
  return buf;
}

/* The lines of text (modified in place: each '\n' becomes '\0'). */
static td_list td_lines(char *text) {
  td_list l = { 0 };
  for (char *s = text; *s;) {
    char *e = strchr(s, '\n');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    td_push(&l, s, n);
    if (!e) break;
    s = e + 1;
  }
  return l;
}

static bool td_is_fence(const char *line) {
  while (*line == ' ') line++;
  return !strncmp(line, "```", 3) || !strncmp(line, "~~~", 3);
}

static bool td_ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* The line without its code spans (`...`, ``...``), each replaced by one blank. */
static void td_strip_code(const char *line, char *out, size_t cap) {
  size_t o = 0;
  for (const char *s = line; *s && o + 1 < cap;) {
    if (*s != '`') { out[o++] = *s++; continue; }
    size_t ticks = strspn(s, "`");
    const char *close = s + ticks;
    while ((close = strchr(close, '`')) && strspn(close, "`") != ticks) close += strspn(close, "`");
    if (!close) { out[o++] = *s++; continue; }   /* unmatched: literal backticks */
    out[o++] = ' ';
    s = close + ticks;
  }
  out[o] = '\0';
}

/* ---- the files ------------------------------------------------------------------------- */

static td_list *td_walk_out;   /* nftw has no context argument; set only during td_markdown */

static int td_walk(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  const char *name = path + ftw->base;
  if (type == FTW_D && ftw->level > 0 &&
      (name[0] == '.' || !strncmp(name, "build", 5) || !strcmp(name, "runs") ||
       !strcmp(name, "results") || !strcmp(name, "fuzz-corpus")))
    return FTW_SKIP_SUBTREE;   /* build outputs, run outputs, git: not documentation */
  if (type == FTW_F && td_ends_with(name, ".md")) td_push(td_walk_out, path, strlen(path));
  return FTW_CONTINUE;
}

/* Every Markdown file under the source directory. */
static td_list td_markdown(void) {
  td_list l = { 0 };
  td_walk_out = &l;
  cr_assert_eq(nftw(VLE_SOURCE_DIR, td_walk, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
  td_walk_out = NULL;
  cr_assert_geq(l.n, 10, "only %d Markdown files found under %s", l.n, VLE_SOURCE_DIR);
  return l;
}

static const char *td_rel(const char *path) {
  size_t n = strlen(VLE_SOURCE_DIR);
  return strncmp(path, VLE_SOURCE_DIR, n) || path[n] != '/' ? path : path + n + 1;
}

/* ---- anchors: GitHub's heading slugs ------------------------------------------------------ */

/* Whether GitHub keeps code point cp in a slug: it keeps letters, marks, digits, '_', '-'
 * and turns spaces into '-'. Approximated by dropping ASCII punctuation and the Latin-1,
 * general-punctuation, symbol (arrows, math, shapes) and CJK-punctuation blocks. */
static bool td_slug_keeps(unsigned cp) {
  if (cp < 0x80) return isalnum((int)cp) || cp == '_' || cp == '-';
  return !(cp <= 0xBF) && cp != 0xD7 && cp != 0xF7 && !(cp >= 0x2000 && cp <= 0x2BFF) &&
         !(cp >= 0x2E00 && cp <= 0x2E7F) && !(cp >= 0x3000 && cp <= 0x303F);
}

/* The code point at s (UTF-8) and its length in bytes. */
static unsigned td_utf8(const unsigned char *s, int *len) {
  if (s[0] < 0x80) { *len = 1; return s[0]; }
  int n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
  unsigned cp = s[0] & (0x3F >> (n - 1));
  for (int i = 1; i < n && s[i]; i++) cp = cp << 6 | (s[i] & 0x3F);
  *len = n;
  return cp;
}

static void td_slug(const char *heading, char *out, size_t cap) {
  size_t o = 0;
  for (const unsigned char *s = (const unsigned char *)heading; *s && o + 5 < cap;) {
    int n;
    unsigned cp = td_utf8(s, &n);
    if (cp == ' ') out[o++] = '-';
    else if (td_slug_keeps(cp)) {
      if (n == 1) out[o++] = (char)tolower((int)cp);
      else for (int i = 0; i < n; i++) out[o++] = (char)s[i];
    }
    s += n;
  }
  out[o] = '\0';
}

/* The anchors of a Markdown file's headings: slug, then slug-1, slug-2 for repeats. */
static td_list td_anchors(const char *path) {
  char *text = td_read(path);
  td_list lines = td_lines(text), out = { 0 };
  bool fence = false;
  for (int i = 0; i < lines.n; i++) {
    const char *s = lines.v[i];
    if (td_is_fence(s)) { fence = !fence; continue; }
    size_t hashes = strspn(s, "#");
    if (fence || hashes == 0 || hashes > 6 || s[hashes] != ' ') continue;
    char plain[1024], slug[1024], unique[1100];
    size_t o = 0;
    for (const char *c = s + hashes + 1; *c && o + 1 < sizeof plain; c++)
      if (*c != '`') plain[o++] = *c;   /* a code span's text stays in the slug */
    while (o > 0 && (plain[o - 1] == ' ' || plain[o - 1] == '#')) o--;
    plain[o] = '\0';
    td_slug(plain, slug, sizeof slug);
    snprintf(unique, sizeof unique, "%s", slug);
    for (int k = 1; td_has(&out, unique); k++) snprintf(unique, sizeof unique, "%s-%d", slug, k);
    td_push(&out, unique, strlen(unique));
  }
  td_free(&lines);
  free(text);
  return out;
}

/* ---- links ------------------------------------------------------------------------------- */

/* Whether path (relative to dir, or to the root when dir is NULL) exists inside the tree. */
static bool td_in_tree(const char *dir, const char *path) {
  char joined[PATH_MAX], real[PATH_MAX], root[PATH_MAX];
  snprintf(joined, sizeof joined, "%s/%s", dir ? dir : VLE_SOURCE_DIR, path);
  if (!realpath(joined, real) || !realpath(VLE_SOURCE_DIR, root)) return false;
  size_t n = strlen(root);
  return !strncmp(real, root, n) && (real[n] == '/' || real[n] == '\0');
}

static void td_check_link(td_report *r, const char *md, int line, const char *target) {
  if (strstr(target, "://") || !strncmp(target, "mailto:", 7)) return;   /* not relative */
  char dir[PATH_MAX], path[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", md);
  *strrchr(dir, '/') = '\0';
  const char *hash = strchr(target, '#');
  size_t plen = hash ? (size_t)(hash - target) : strlen(target);
  snprintf(path, sizeof path, "%.*s", (int)plen, target);
  if (plen && !td_in_tree(dir, path)) {
    td_note(r, "%s:%d: link '%s': no such file in the repository", td_rel(md), line, target);
    return;
  }
  char file[2 * PATH_MAX + 2];
  snprintf(file, sizeof file, "%s/%s", dir, path);
  if (!hash || !hash[1] || (plen && !td_ends_with(path, ".md"))) return;
  td_list anchors = td_anchors(plen ? file : md);
  if (!td_has(&anchors, hash + 1))
    td_note(r, "%s:%d: link '%s': no heading with that anchor", td_rel(md), line, target);
  td_free(&anchors);
}

/* The link targets of one line (code spans removed): (target) after ']', and [ref]: target. */
static int td_links_in(td_report *r, const char *md, int line, const char *text) {
  int links = 0;
  const char *ref = text + strspn(text, " ");
  if (*ref == '[' && strstr(ref, "]: ")) {
    char target[1024];
    if (sscanf(strstr(ref, "]: ") + 3, "%1023s", target) == 1) {
      td_check_link(r, md, line, target);
      links++;
    }
  }
  for (const char *s = text; (s = strstr(s, "](")); s += 2) {
    const char *t = s + 2 + (s[2] == '<');
    size_t n = strcspn(t, ") >");
    char target[1024];
    snprintf(target, sizeof target, "%.*s", (int)n, t);
    if (n) {
      td_check_link(r, md, line, target);
      links++;
    }
  }
  return links;
}

Test(docs, relative_links_resolve) {
  td_list files = td_markdown();
  td_report r = { 0 };
  int links = 0;
  for (int f = 0; f < files.n; f++) {
    char *text = td_read(files.v[f]);
    td_list lines = td_lines(text);
    bool fence = false;
    for (int i = 0; i < lines.n; i++) {
      if (td_is_fence(lines.v[i])) { fence = !fence; continue; }
      if (fence) continue;
      char plain[4096];
      td_strip_code(lines.v[i], plain, sizeof plain);
      links += td_links_in(&r, files.v[f], i + 1, plain);
    }
    td_free(&lines);
    free(text);
  }
  cr_expect_gt(links, 30, "only %d links seen: is the scan broken?", links);
  cr_expect_eq(r.n, 0, "%d of %d links do not resolve:\n%s", r.n, links, td_report_text(&r));
  free(r.text);
  td_free(&files);
}

/* ---- paths named in the text --------------------------------------------------------------- */

static bool td_path_char(char c) { return isalnum((unsigned char)c) || (c && strchr("_.-/", c)); }

static bool td_source_like(const char *w) {
  static const char *const ext[] = { ".md", ".c", ".h", ".vle", ".sh", ".py" };
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
    if (td_ends_with(w, ext[i]) && strlen(w) > strlen(ext[i])) return true;
  return false;
}

/* A path with a placeholder part (stdlib/NAME.vle, OUT/run.json) names a family of files. */
static bool td_has_placeholder(const char *w) {
  for (const char *s = w; *s; s += strcspn(s, "/."), s += *s != '\0') {
    size_t n = strcspn(s, "/.");
    size_t caps = 0;
    while (caps < n && (isupper((unsigned char)s[caps]) || s[caps] == '_')) caps++;
    if (n >= 2 && caps == n) return true;
  }
  return false;
}

/* Each word with a '/' that looks like a source or document path must exist (relative to
 * the root or to the file's directory). Absolute paths and URLs are not the tree's. */
static void td_paths_in(td_report *r, const char *md, int line, const char *text, int *seen) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", md);
  *strrchr(dir, '/') = '\0';
  for (const char *s = text; *s;) {
    if (!td_path_char(*s)) { s++; continue; }
    size_t n = 0;
    while (td_path_char(s[n])) n++;
    char w[PATH_MAX];
    snprintf(w, sizeof w, "%.*s", (int)n, s);
    bool url = s > text && s[-1] == ':', literal = s > text && s[-1] == '"';
    s += n;
    while (n > 0 && w[n - 1] == '.') w[--n] = '\0';   /* a full stop after the path */
    if (url || literal || w[0] == '/' || !strchr(w, '/') || !td_source_like(w) ||
        td_has_placeholder(w))
      continue;
    (*seen)++;
    if (!td_in_tree(NULL, w) && !td_in_tree(dir, w))
      td_note(r, "%s:%d: '%s' names no file of the repository", td_rel(md), line, w);
  }
}

Test(docs, named_paths_exist) {
  td_list files = td_markdown();
  td_report r = { 0 };
  int seen = 0;
  for (int f = 0; f < files.n; f++) {
    char *text = td_read(files.v[f]);
    td_list lines = td_lines(text);
    for (int i = 0; i < lines.n; i++) td_paths_in(&r, files.v[f], i + 1, lines.v[i], &seen);
    td_free(&lines);
    free(text);
  }
  cr_expect_gt(seen, 30, "only %d paths seen: is the scan broken?", seen);
  cr_expect_eq(r.n, 0, "%d of %d named paths do not exist:\n%s", r.n, seen, td_report_text(&r));
  free(r.text);
  td_free(&files);
}

/* ---- vlec command lines ---------------------------------------------------------------- */

/* What vlec prints for a command line (run through the shell; the arguments are fixed). */
static char *td_vlec(const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", VLEC_PATH, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p, "popen %s", cmd);
  char *out = NULL;
  size_t len = 0, cap = 0, got;
  do {
    if (cap - len < 4096) out = realloc(out, cap = 2 * cap + 4096);
    cr_assert_not_null(out);
    got = fread(out + len, 1, cap - len - 1, p);
    len += got;
  } while (got > 0);
  out[len] = '\0';
  cr_assert_eq(pclose(p), 0, "vlec %s failed:\n%s", args, out);
  return out;
}

/* One subcommand and the options its help lists. */
typedef struct td_cmd {
  char name[32];
  td_list opts;
} td_cmd;

typedef struct td_vlec_info {
  td_cmd cmds[32];
  int ncmds;
} td_vlec_info;

/* Every word of text that starts with '-' and a letter: "--steps", "-o" (the name only). */
static void td_options_of(const char *text, td_list *out) {
  for (const char *s = text; *s; s++) {
    bool start = s == text || strchr(" \t\n[(|,", s[-1]);
    if (!start || s[0] != '-') continue;
    const char *name = s + (s[1] == '-' ? 2 : 1);
    if (!isalpha((unsigned char)*name)) continue;
    size_t n = s[1] == '-' ? strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") : 1;
    size_t len = (size_t)(name - s) + n;
    char opt[64];
    snprintf(opt, sizeof opt, "%.*s", (int)len, s);
    if (!td_has(out, opt)) td_push(out, opt, strlen(opt));
  }
}

/* The subcommands of `vlec --help` ("commands:" then one "  NAME  summary" a line), and
 * each one's options from `vlec help NAME`. */
static td_vlec_info td_vlec_info_get(void) {
  td_vlec_info v = { .ncmds = 0 };
  char *overview = td_vlec("--help");
  const char *list = strstr(overview, "commands:\n");
  cr_assert_not_null(list, "vlec --help lists no commands:\n%s", overview);
  for (const char *s = list + 10; !strncmp(s, "  ", 2) && v.ncmds < 32; s = strchr(s, '\n') + 1) {
    td_cmd *c = &v.cmds[v.ncmds++];
    *c = (td_cmd){ .opts = { 0 } };
    sscanf(s, "%31s", c->name);
    char args[64];
    snprintf(args, sizeof args, "help %s", c->name);
    char *help = td_vlec(args);
    td_options_of(help, &c->opts);
    free(help);
    if (!strchr(s, '\n')) break;
  }
  free(overview);
  cr_assert_geq(v.ncmds, 7, "vlec --help lists %d commands", v.ncmds);
  return v;
}

static void td_vlec_info_free(td_vlec_info *v) {
  for (int i = 0; i < v->ncmds; i++) td_free(&v->cmds[i].opts);
}

static const td_cmd *td_find_cmd(const td_vlec_info *v, const char *name) {
  for (int i = 0; i < v->ncmds; i++)
    if (!strcmp(v->cmds[i].name, name)) return &v->cmds[i];
  return NULL;
}

/* A placeholder such as COMMAND stands for any subcommand. */
static bool td_placeholder(const char *w) {
  for (const char *s = w; *s; s++)
    if (!isupper((unsigned char)*s) && *s != '_') return false;
  return *w != '\0';
}

/* Whether option opt (its name, without a value) is one that cmd (NULL: any) knows. */
static bool td_known_option(const td_vlec_info *v, const td_cmd *cmd, const char *opt) {
  if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) return true;   /* any position, any command */
  for (int i = 0; i < v->ncmds; i++)
    if ((!cmd || cmd == &v->cmds[i]) && td_has(&v->cmds[i].opts, opt)) return true;
  return false;
}

/* The option names in one argument word: "--out=DIR" -> --out, "[--precision" -> --precision,
 * "--llvm|--kir" -> both, "-oFILE" -> -o. Values and placeholders give none. */
static void td_word_options(const char *word, td_list *out) {
  char w[256];
  snprintf(w, sizeof w, "%s", word + strspn(word, "[(`\"'"));
  for (char *part = strtok(w, "|"); part; part = strtok(NULL, "|")) {
    if (part[0] != '-' || !isalpha((unsigned char)part[1 + (part[1] == '-')])) continue;
    size_t n = part[1] == '-' ? 2 + strspn(part + 2, "abcdefghijklmnopqrstuvwxyz0123456789-") : 2;
    td_push(out, part, n);
  }
}

/* "vlec" or a path to it (build/vlec), not an assignment such as VLEC=build/vlec. */
static bool td_is_vlec(const char *w) {
  return !strcmp(w, "vlec") || (td_ends_with(w, "/vlec") && !strchr(w, '='));
}

static bool td_ends_command(const char *w) {
  static const char *const ends[] = { "&&", "||", ";", "|", ">", ">>", "2>", "2>&1", "<" };
  for (size_t i = 0; i < sizeof ends / sizeof *ends; i++)
    if (!strcmp(w, ends[i])) return true;
  return w[0] == '#';   /* a shell comment */
}

/* Checks the vlec commands in one command line (words separated by blanks). */
static void td_check_commands(td_report *r, const td_vlec_info *v, const char *md, int line,
                              const char *text, int *seen) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", text);
  char *words[512];
  int n = 0;
  for (char *w = strtok(buf, " \t"); w && n < 512; w = strtok(NULL, " \t")) words[n++] = w;
  for (int i = 0; i < n; i++) {
    if (!td_is_vlec(words[i])) continue;
    (*seen)++;
    int j = i + 1;
    const char *sub = j < n ? words[j] : "";
    const td_cmd *cmd = td_find_cmd(v, sub);
    bool any = td_placeholder(sub) || !strcmp(sub, "help");
    bool global = !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "--version");
    if (!cmd && !any && !global && !td_ends_command(sub) && *sub) {
      td_note(r, "%s:%d: 'vlec %s': vlec has no such command", td_rel(md), line, sub);
      continue;
    }
    for (j++; j < n && !td_is_vlec(words[j]) && !td_ends_command(words[j]); j++) {
      if (!strcmp(sub, "help") && !td_find_cmd(v, words[j]) && !td_placeholder(words[j]))
        td_note(r, "%s:%d: 'vlec help %s': no such command", td_rel(md), line, words[j]);
      td_list opts = { 0 };
      td_word_options(words[j], &opts);
      for (int k = 0; k < opts.n; k++) {
        if (!td_known_option(v, any ? NULL : cmd, opts.v[k]))
          td_note(r, "%s:%d: 'vlec %s ... %s': not an option that 'vlec help %s' lists",
                  td_rel(md), line, sub, opts.v[k], sub);
      }
      td_free(&opts);
    }
    i = j - 1;
  }
}

/* The code spans of a line that start with "vlec ", each checked as a command line. */
static void td_span_commands(td_report *r, const td_vlec_info *v, const char *md, int line,
                             const char *s, int *seen) {
  while ((s = strchr(s, '`'))) {
    size_t ticks = strspn(s, "`");
    const char *body = s + ticks, *close = strstr(body, ticks == 1 ? "`" : "``");
    if (!close) break;
    char span[2048];
    snprintf(span, sizeof span, "%.*s", (int)(close - body), body);
    const char *first = span + strspn(span, " ");
    if (!strncmp(first, "vlec ", 5) || !strcmp(first, "vlec"))
      td_check_commands(r, v, md, line, span, seen);
    s = close + ticks;
  }
}

/* One file: fenced lines (joined at a trailing backslash) and code spans elsewhere. */
static void td_file_commands(td_report *r, const td_vlec_info *v, const char *md, int *seen) {
  char *text = td_read(md);
  td_list lines = td_lines(text);
  bool fence = false;
  for (int i = 0; i < lines.n; i++) {
    if (td_is_fence(lines.v[i])) { fence = !fence; continue; }
    if (!fence) { td_span_commands(r, v, md, i + 1, lines.v[i], seen); continue; }
    char joined[8192] = "";
    int first = i;
    for (;; i++) {
      strncat(joined, lines.v[i], sizeof joined - strlen(joined) - 2);
      if (!td_ends_with(joined, "\\") || i + 1 >= lines.n) break;
      joined[strlen(joined) - 1] = ' ';
    }
    const char *cmd = joined + strspn(joined, " ");
    if (!strncmp(cmd, "$ ", 2)) cmd += 2;   /* a prompt */
    td_check_commands(r, v, md, first + 1, cmd, seen);
  }
  td_free(&lines);
  free(text);
}

Test(docs, quoted_vlec_commands_parse) {
  td_vlec_info v = td_vlec_info_get();
  cr_assert(td_has(&td_find_cmd(&v, "run")->opts, "--steps"), "vlec help run lists no --steps");
  cr_assert(td_has(&td_find_cmd(&v, "grad")->opts, "--steps"), "vlec help grad lists no --steps");
  td_list files = td_markdown();
  td_report r = { 0 };
  int seen = 0;
  for (int f = 0; f < files.n; f++) td_file_commands(&r, &v, files.v[f], &seen);
  cr_expect_gt(seen, 30, "only %d vlec command lines seen: is the scan broken?", seen);
  cr_expect_eq(r.n, 0, "%d problems in %d quoted vlec command lines:\n%s", r.n, seen,
               td_report_text(&r));
  free(r.text);
  td_free(&files);
  td_vlec_info_free(&v);
}

/* The checks themselves: what must pass passes, and each kind of fault is caught. */
static int td_faults(const td_vlec_info *v, const char *line) {
  td_report r = { 0 };
  int seen = 0;
  td_check_commands(&r, v, "x.md", 1, line, &seen);
  free(r.text);
  return r.n;
}

Test(docs, checker_catches_faults) {
  td_vlec_info v = td_vlec_info_get();
  cr_expect_eq(td_faults(&v, "vlec run m.vle --steps=5 --out d -q"), 0);
  cr_expect_eq(td_faults(&v, "vlec emit m.vle --llvm|--kir [--precision f32]"), 0);
  cr_expect_eq(td_faults(&v, "vlec COMMAND --help && vlec --version"), 0);
  cr_expect_eq(td_faults(&v, "vlec plot d -o x.svg # --not-an-option"), 0);
  cr_expect_eq(td_faults(&v, "build/vlec grad m.vle --warmup 3 --record-every 2"), 0);
  cr_expect_eq(td_faults(&v, "vlec run m.vle --stepz 5"), 1);
  cr_expect_eq(td_faults(&v, "vlec check m.vle --steps 5"), 1);      /* run's option, not check's */
  cr_expect_eq(td_faults(&v, "vlec fit m.vle"), 1);
  cr_expect_eq(td_faults(&v, "vlec run m.vle && vlec plot d --smoothe 3"), 1);
  cr_expect_eq(td_faults(&v, "vlec help fit"), 1);
  td_vlec_info_free(&v);

  char slug[256];
  td_slug("vlec run and vlec grad", slug, sizeof slug);
  cr_expect_str_eq(slug, "vlec-run-and-vlec-grad");
  td_slug("4. Error dynamics \xe2\x80\x94 the split Q = q e", slug, sizeof slug);   /* an em dash */
  cr_expect_str_eq(slug, "4-error-dynamics--the-split-q--q-e");

  td_report r = { 0 };
  int seen = 0;
  char md[PATH_MAX];
  snprintf(md, sizeof md, "%s/README.md", VLE_SOURCE_DIR);
  cr_expect_eq(td_links_in(&r, md, 1, "[a](docs/cli.md#vlec-check) [b](docs/cli.md) [c](#the-pipeline)"), 3);
  cr_expect_eq(r.n, 0, "%s", td_report_text(&r));
  td_links_in(&r, md, 2, "[a](docs/nothing.md) [b](docs/cli.md#no-such-heading) [c](../shared/x.md)");
  cr_expect_eq(r.n, 3, "%s", td_report_text(&r));
  td_paths_in(&r, md, 3, "see docs/cli.md and tests/test_docs.c, or docs/none.md.", &seen);
  cr_expect_eq(seen, 3, "%d paths seen", seen);
  cr_expect_eq(r.n, 4, "%s", td_report_text(&r));
  free(r.text);
}
