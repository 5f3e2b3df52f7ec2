/* The board app's request (THRQ), answer (THRA) and tools wire form. GENERATED
 * by tools/gen_app_format.py from runtime/thimble/app/format.py: do not edit.
 * Little-endian; THM_APP_REQ_F_* / THM_APP_ANS_F_* are byte offsets of the
 * header fields. */
#ifndef THM_APP_FORMAT_H
#define THM_APP_FORMAT_H

#define THM_APP_REQ_MAGIC "THRQ"
#define THM_APP_ANS_MAGIC "THRA"
#define THM_APP_REQ_VERSION 2u
#define THM_APP_ANS_VERSION 1u
#define THM_APP_REQ_TRUNCATE 1u   /* cut a prompt over the model's limit as Needle does */
#define THM_APP_REQ_HEADER 24u
#define THM_APP_ANS_HEADER 52u
#define THM_APP_REQ_F_MAGIC 0u   /* REQ_MAGIC */
#define THM_APP_REQ_F_VERSION 4u   /* REQ_VERSION */
#define THM_APP_REQ_F_MAX_NEW_TOKENS 6u   /* 2 .. MAX_NEW */
#define THM_APP_REQ_F_QUERY_LEN 8u   /* 1 .. MAX_QUERY bytes */
#define THM_APP_REQ_F_TOOLS_JSON_LEN 12u   /* 2 .. MAX_TOOLS_JSON bytes */
#define THM_APP_REQ_F_TOOLS_WIRE_LEN 16u   /* TOOLS_HEADER .. TOOLS_MAX_WIRE bytes */
#define THM_APP_REQ_F_FLAGS 20u   /* REQ_TRUNCATE; other bits refused */
#define THM_APP_ANS_F_MAGIC 0u   /* ANS_MAGIC */
#define THM_APP_ANS_F_VERSION 4u   /* ANS_VERSION */
#define THM_APP_ANS_F_N_STEPS 6u   /* decoder steps timed, <= MAX_NEW */
#define THM_APP_ANS_F_STATUS 8u   /* STATUS: 0 ok */
#define THM_APP_ANS_F_PROMPT_TOKENS 12u
#define THM_APP_ANS_F_N_TOKENS 16u   /* <= MAX_NEW */
#define THM_APP_ANS_F_COMPLETE 20u   /* 1: a whole tool call */
#define THM_APP_ANS_F_CRC 24u   /* CRC-32 of the hidden states (bit-exactness check) */
#define THM_APP_ANS_F_COUNTER_HZ 28u   /* ticks * 1e9 / counter_hz = instructions under QEMU -icount shift=0 */
#define THM_APP_ANS_F_TEXT_LEN 32u   /* <= MAX_TEXT */
#define THM_APP_ANS_F_TOKENIZE_TICKS 36u
#define THM_APP_ANS_F_PREFILL_TICKS 44u

#define THM_APP_MAX_QUERY 1024u          /* bytes of query text */
#define THM_APP_MAX_TOOLS_JSON 8192u     /* bytes of tools JSON */
#define THM_APP_MAX_NEW 96u              /* generated tokens, <tool_call> included */
#define THM_APP_MAX_TEXT 1024u           /* answer or error text bytes */
#define THM_APP_MAX_REQUEST 13336u
#define THM_APP_MAX_ANSWER 2228u

#define THM_TOOLS_MAGIC "THTL"
#define THM_TOOLS_VERSION 1u
#define THM_TOOLS_HEADER 8u
#define THM_TOOLS_MAX_TOOLS 32u      /* tools per prompt */
#define THM_TOOLS_MAX_KEYS 32u       /* argument keys per tool */
#define THM_TOOLS_MAX_KEYS_TOTAL 256u
#define THM_TOOLS_MAX_WIRE 4096u     /* bytes of the whole wire form */

enum {
    THM_APP_OK = 0,           /* ok */
    THM_APP_E_REQUEST = -1,   /* bad request */
    THM_APP_E_NO_MODEL = -2,  /* no model */
    THM_APP_E_ARENA = -3,     /* arena too small */
    THM_APP_E_TOKENIZE = -4,  /* tokenizer error */
    THM_APP_E_MODEL = -5,     /* model error */
    THM_APP_E_DECODE = -6,    /* decoding error */
    THM_APP_E_PROMPT = -7,    /* prompt too long */
};

#endif /* THM_APP_FORMAT_H */
