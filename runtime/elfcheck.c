/* elfcheck.c - see elfcheck.h. */
#include "elfcheck.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rf.h"
#include "vle_err.h"

#if UINTPTR_MAX == 0xffffffffffffffffULL
typedef Elf64_Ehdr elf_ehdr;
typedef Elf64_Phdr elf_phdr;
#define ELF_NATIVE_CLASS ELFCLASS64
#else
typedef Elf32_Ehdr elf_ehdr;
typedef Elf32_Phdr elf_phdr;
#define ELF_NATIVE_CLASS ELFCLASS32
#endif

static int elf_truncated(const char *path, const char *what, unsigned long long end,
                         unsigned long long size, vle_error *err) {
  return vle_fail(err, "%s: truncated or corrupt shared object: %s ends at byte %llu but the "
                  "file has %llu bytes (rebuild it with vlec build)", path, what, end, size);
}

static int elf_check_phdrs(FILE *fp, const char *path, const elf_ehdr *eh,
                           unsigned long long size, vle_error *err) {
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    elf_phdr ph;
    if (fseek(fp, (long)(eh->e_phoff + (unsigned long long)i * eh->e_phentsize), SEEK_SET) ||
        fread(&ph, sizeof ph, 1, fp) != 1)
      return elf_truncated(path, "a program header", eh->e_phoff, size, err);
    if (ph.p_type == PT_NULL) continue;
    unsigned long long end = (unsigned long long)ph.p_offset + ph.p_filesz;
    if (end < ph.p_offset || end > size) {
      char what[48];
      snprintf(what, sizeof what, "segment %u", i);
      return elf_truncated(path, what, end, size, err);
    }
  }
  return 0;
}

int elf_check(const char *path, vle_error *err) {
  FILE *fp = rf_open(path, err);     /* a FIFO or a directory: refused, never waited on */
  if (!fp) return -1;
  struct stat st;
  elf_ehdr eh;
  int rc = 0;
  if (fstat(fileno(fp), &st) != 0) {
    rc = vle_fail(err, "%s: cannot stat: %s", path, strerror(errno));
  } else if (fread(&eh, sizeof eh, 1, fp) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    rc = vle_fail(err, "%s: not a shared object (no ELF header at byte 0)", path);
  } else if (eh.e_ident[EI_CLASS] != ELF_NATIVE_CLASS || eh.e_type != ET_DYN) {
    rc = vle_fail(err, "%s: not a shared object for this machine (ELF class %d, type %d)", path,
                  eh.e_ident[EI_CLASS], eh.e_type);
  } else if (eh.e_phentsize != sizeof(elf_phdr) ||
             eh.e_phoff + (unsigned long long)eh.e_phnum * sizeof(elf_phdr) >
               (unsigned long long)st.st_size) {
    rc = elf_truncated(path, "the program header table",
                       eh.e_phoff + (unsigned long long)eh.e_phnum * sizeof(elf_phdr),
                       (unsigned long long)st.st_size, err);
  } else if (eh.e_shoff && eh.e_shoff + (unsigned long long)eh.e_shnum * eh.e_shentsize >
                             (unsigned long long)st.st_size) {
    rc = elf_truncated(path, "the section header table",
                       eh.e_shoff + (unsigned long long)eh.e_shnum * eh.e_shentsize,
                       (unsigned long long)st.st_size, err);
  } else {
    rc = elf_check_phdrs(fp, path, &eh, (unsigned long long)st.st_size, err);
  }
  fclose(fp);
  return rc;
}
