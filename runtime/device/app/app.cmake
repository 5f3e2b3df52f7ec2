# The watch's application firmware (thm_app_link): the model runtime,
# tokenizer, grammar and decoder, the emulated flash and the app, behind the
# serial link server (runtime/device/link), its only way in. Included from
# the top-level CMakeLists.txt after thm_firmware() is defined.
set(THM_APP_DIR ${THM_DEVICE}/app)
set(THM_LINK_SOURCES ${THM_DEVICE}/link/thm_link_server.c ${THM_DEVICE}/link/thm_link_frame.c
    ${THM_DEVICE}/link/thm_link_journal.c ${THM_DEVICE}/link/thm_crc32.c)
# The link and the model runtime each define a thm_crc32 (same CRC, other
# parameter types): the link's copy is renamed so both link cleanly.
set_source_files_properties(${THM_LINK_SOURCES} PROPERTIES COMPILE_DEFINITIONS thm_crc32=thm_link_crc32)
thm_firmware(thm_app_link
    ${THM_APP_DIR}/main.c ${THM_APP_DIR}/thm_app.c ${THM_APP_DIR}/thm_app_request.c ${THM_APP_DIR}/thm_app_image.c
    ${THM_APP_DIR}/thm_app_vocab.c
    ${THM_APP_DIR}/thm_app_strlen.c ${THM_APP_DIR}/thm_app_handle.c ${THM_APP_DIR}/thm_app_link.c
    ${THM_DEVICE}/flash/thm_flash.c
    ${THM_DEVICE}/image/thm_image.c ${THM_DEVICE}/crypto/thm_sha256.c
    ${THM_DEVICE}/model/thm_model_bind.c ${THM_DEVICE}/model/thm_model_arena.c
    ${THM_DEVICE}/model/thm_model_forward.c ${THM_DEVICE}/model/thm_model_attention.c
    ${THM_DEVICE}/model/thm_crc32.c
    ${THM_DEVICE}/tokenizer/thm_tok_open.c ${THM_DEVICE}/tokenizer/thm_tok_encode.c
    ${THM_DEVICE}/tokenizer/thm_tok_decode.c
    ${THM_DEVICE}/decode/thm_grammar.c ${THM_DEVICE}/decode/thm_decode.c
    ${THM_LINK_SOURCES})
target_include_directories(thm_app_link PRIVATE ${THM_APP_DIR} ${THM_DEVICE}/flash ${THM_DEVICE}/include
    ${THM_DEVICE}/image ${THM_DEVICE}/crypto ${THM_DEVICE}/model ${THM_DEVICE}/tokenizer
    ${THM_DEVICE}/decode ${THM_DEVICE}/link)

# Test-only (tests/device/test_device_flash.py): the flash driver behind
# byte-level service commands, never shipped.
thm_firmware(thm_flash_test ${THM_APP_DIR}/thm_flash_test.c ${THM_DEVICE}/flash/thm_flash.c)
target_include_directories(thm_flash_test PRIVATE ${THM_DEVICE}/flash)
