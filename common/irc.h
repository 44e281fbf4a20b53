/* IRC line parsing (RFC 1459/2812 + IRCv3 message tags) and name rules.
 * Pure functions: no I/O, no allocation. */
#ifndef PARLOR_IRC_H
#define PARLOR_IRC_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define IRC_MAX_PARAMS 15
/* RFC 1459: 512 bytes including CRLF, so 510 bytes of content. */
#define IRC_LINE_MAX 510
/* The most a server may be configured to accept (line-length setting,
 * advertised as LINELEN); buffers that relay client text are sized for it. */
#define IRC_LINE_LIMIT 4096
/* IRCv3 message-tags: the tag section (with '@' and trailing space) may add
 * up to 8191 bytes from clients. */
#define IRC_TAGS_MAX 8191
/* Of which the client's own tag data (between '@' and the space) is at most
 * this; a longer one is refused with 417 (message-tags, "Size limit"). */
#define IRC_CLIENT_TAGS_MAX 4094
#define IRC_NICK_MAX 30          /* bytes (UTF-8), advertised as NICKLEN */
#define IRC_CHANNEL_MAX 50       /* bytes, advertised as CHANNELLEN */

struct irc_msg {
    char *tags;      /* without the leading '@'; NULL if none */
    char *source;    /* without the leading ':'; NULL if none */
    char *command;   /* never NULL after a successful parse */
    int nparams;
    char *params[IRC_MAX_PARAMS];
    bool trailing;   /* last param was given with ':' */
};

/* Parse one line (no CR/LF) in place: separators are overwritten with NULs
 * and the fields point into `line`.  `line` must be NUL-terminated.
 * Returns 0, or -EINVAL for an empty line or one without a command. */
int irc_parse(char *line, struct irc_msg *out);

/* The client-only tags ("+key" or "+key=value") of a tag section `tags`
 * (without the '@'), ';'-separated into out[cap] (NUL-terminated): each key
 * once, at its last occurrence (message-tags: only the final one counts),
 * values as they came (escaped); other tags and empty keys are left out.  A
 * tag that does not fit whole is left out.  Returns the length. */
size_t irc_client_tags(const char *tags, char *out, size_t cap);

/* Valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
bool utf8_valid(const char *s, size_t len);
/* The length of the longest prefix of s[0..len) of at most `max` bytes
 * that does not split a UTF-8 character: every length limit cuts here. */
size_t utf8_cut(const char *s, size_t len, size_t max);
/* Copy src into dst[cap] (NUL-terminated), cut at a character boundary. */
void utf8_copy(char *dst, size_t cap, const char *src);
/* Remove, in place, the control characters that must never reach another
 * client: C0 controls other than IRC formatting (bold 0x02, colour 0x03,
 * reset 0x0F, monospace 0x11, reverse 0x16, italic 0x1D, strikethrough 0x1E,
 * underline 0x1F) and CTCP's 0x01; DEL; and the C1 controls U+0080..U+009F
 * (a terminal may take them as escapes).  A TAB becomes a space.  CR, LF and NUL are refused before
 * this (client.c).  Returns the new length; s gets a NUL there. */
size_t irc_strip_controls(char *s, size_t len);

/* CASEMAPPING=ascii: A-Z fold to a-z, every other byte is kept.  UTF-8 letters
 * (e.g. Hangul) are compared byte for byte. */
static inline char irc_tolower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }
/* Fold `len` bytes of src into dst (may alias); dst gets a NUL at [len]. */
void irc_casefold(char *dst, const char *src, size_t len);
int irc_casecmp(const char *a, const char *b);
/* Hash of the casefolded name (FNV-1a, 64-bit): equal for names equal under
 * the casemapping.  Used for owner selection and hash tables. */
uint64_t irc_casehash(const char *s, size_t len);
/* Glob match under the casemapping: '*' any run of bytes, '?' one byte.
 * Used for ban masks against "nick!user@host". */
bool irc_mask_match(const char *mask, const char *s);

/* Nick rules: 1..IRC_NICK_MAX bytes of valid UTF-8; ASCII letters, digits
 * (not first), "-[]\\`^{}|_" (no '-' first); any non-ASCII code point that is
 * not a control, space or format character.  So "민영" is a valid nick. */
bool irc_nick_valid(const char *s, size_t len);
/* Channel rules: '#' then 1..IRC_CHANNEL_MAX-1 bytes of valid UTF-8 without
 * space, comma, BEL, NUL, CR, LF or ':'. */
bool irc_channel_valid(const char *s, size_t len);

#endif
