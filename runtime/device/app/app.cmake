# The watch's application firmware (thm_app_link): the model runtime,
# tokenizer, grammar and decoder, the emulated flash and the app, behind the
# serial link server (runtime/device/link), its only way in; its sources are
# the [app] component's (runtime/device/components.toml). Included from the
# top-level CMakeLists.txt after thm_firmware() is defined.
thm_component_sources(THM_APP_ALL_SOURCES THM_APP_ALL_INCLUDES APP)
thm_firmware(thm_app_link ${THM_APP_ALL_SOURCES})
target_include_directories(thm_app_link PRIVATE ${THM_APP_ALL_INCLUDES})

# Test-only (tests/device/test_device_flash.py): the flash driver behind
# byte-level service commands, never shipped.
thm_component_sources(THM_FLASH_ALL_SOURCES THM_FLASH_ALL_INCLUDES FLASH)
thm_firmware(thm_flash_test ${THM_DEVICE}/app/thm_flash_test.c ${THM_FLASH_ALL_SOURCES})
target_include_directories(thm_flash_test PRIVATE ${THM_FLASH_ALL_INCLUDES})
