# Reads the itk-module.cmake manifest of every TorchSeg module and creates its library, tests and benchmarks.
#
# Debian's ITK 5.2 is an install tree without ITKModuleExternal, itk_module_impl, CreateTestDriver or itk_add_test,
# so the manifests (written in ITK's own itk_module() syntax, so they also work inside an ITK build tree) are read
# here. A module's CMakeLists.txt calls torchseg_module_impl(); its src/ calls torchseg_module_add_library(); its
# test/ calls torchseg_add_gtest() and torchseg_add_benchmark().

include(CMakeParseArguments)
include(CMakePackageConfigHelpers)

# The manifest syntax of ITK: itk_module(<name> DEPENDS ... TEST_DEPENDS ... DESCRIPTION "...").
macro(itk_module _name)
  cmake_parse_arguments(_manifest "EXCLUDE_FROM_DEFAULT;ENABLE_SHARED"
    "DESCRIPTION" "DEPENDS;PRIVATE_DEPENDS;COMPILE_DEPENDS;TEST_DEPENDS;FACTORY_NAMES" ${ARGN})
  set(_manifest_NAME ${_name})
endmacro()

function(_torchseg_is_module name out)
  if(name IN_LIST TORCHSEG_MODULES)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

# torchseg_read_manifests(<dir>...): records each module's name, dependencies and description, and collects the
# ITK components the toolkit needs into TORCHSEG_ITK_COMPONENTS.
macro(torchseg_read_manifests)
  set(TORCHSEG_MODULES "")
  set(TORCHSEG_ITK_COMPONENTS "")
  foreach(_dir ${ARGN})
    set(_manifest_NAME "")
    include(${PROJECT_SOURCE_DIR}/${_dir}/itk-module.cmake)
    if(NOT _manifest_NAME)
      message(FATAL_ERROR "${_dir}/itk-module.cmake does not call itk_module()")
    endif()
    set(_mod ${_manifest_NAME})
    list(APPEND TORCHSEG_MODULES ${_mod})
    set(${_mod}_MODULE_DIR ${PROJECT_SOURCE_DIR}/${_dir})
    set(${_mod}_DEPENDS ${_manifest_DEPENDS} ${_manifest_PRIVATE_DEPENDS} ${_manifest_COMPILE_DEPENDS})
    set(${_mod}_TEST_DEPENDS ${_manifest_TEST_DEPENDS})
    set(${_mod}_DESCRIPTION "${_manifest_DESCRIPTION}")
    string(REPLACE "/" "_" _key "${_dir}")
    set(TORCHSEG_MODULE_NAME_${_key} ${_mod})
    foreach(_dep IN LISTS ${_mod}_DEPENDS ${_mod}_TEST_DEPENDS)
      if(_dep MATCHES "^ITK" AND NOT _dep STREQUAL "ITKTestKernel" AND NOT _dep STREQUAL "ITKGoogleTest")
        list(APPEND TORCHSEG_ITK_COMPONENTS ${_dep})
      elseif(NOT _dep MATCHES "^ITK" AND NOT _dep IN_LIST TORCHSEG_MODULES)
        message(FATAL_ERROR "${_dir}/itk-module.cmake: ${_mod} depends on ${_dep}, which is neither an ITK module "
          "nor a TorchSeg module listed before it")
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES TORCHSEG_ITK_COMPONENTS)
endmacro()

# The link items of a list of manifest dependencies: TorchSeg targets, and the libraries of ITK modules.
function(_torchseg_link_items out)
  set(_items "")
  foreach(_dep ${ARGN})
    _torchseg_is_module(${_dep} _is_ts)
    if(_is_ts)
      list(APPEND _items ${_dep})
    elseif(DEFINED ${_dep}_LIBRARIES)
      list(APPEND _items ${${_dep}_LIBRARIES})
    endif()
  endforeach()
  set(${out} ${_items} PARENT_SCOPE)
endfunction()

# Called from a module's CMakeLists.txt.
macro(torchseg_module_impl)
  string(REPLACE "${PROJECT_SOURCE_DIR}/" "" _rel "${CMAKE_CURRENT_SOURCE_DIR}")
  string(REPLACE "/" "_" _key "${_rel}")
  set(itk-module ${TORCHSEG_MODULE_NAME_${_key}})
  if(NOT itk-module)
    message(FATAL_ERROR "${_rel} is not listed in TORCHSEG_MODULE_DIRS")
  endif()
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/src/CMakeLists.txt)
    add_subdirectory(src)
  else()
    torchseg_module_add_library(${itk-module})
  endif()
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include)
    install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/TorchSeg COMPONENT Development)
  endif()
  if(BUILD_TESTING AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test/CMakeLists.txt)
    add_subdirectory(test)
  endif()
endmacro()

# torchseg_module_add_library(<module> [<source>...]): a library (an INTERFACE one without sources) that links the
# manifest's DEPENDS publicly. External packages (Torch, VTK, ...) are linked by the module's own CMakeLists.
function(torchseg_module_add_library name)
  _torchseg_link_items(_deps ${${name}_DEPENDS})
  set(_inc ${${name}_MODULE_DIR}/include)
  if(ARGN)
    add_library(${name} ${ARGN})
    target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${_inc}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/TorchSeg>)
    target_include_directories(${name} SYSTEM PUBLIC ${ITK_INCLUDE_DIRS})
    target_link_libraries(${name} PUBLIC ${_deps})
    set_target_properties(${name} PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
  else()
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE $<BUILD_INTERFACE:${_inc}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/TorchSeg>)
    target_include_directories(${name} SYSTEM INTERFACE ${ITK_INCLUDE_DIRS})
    target_link_libraries(${name} INTERFACE ${_deps})
  endif()
  add_library(TorchSeg::${name} ALIAS ${name})
  install(TARGETS ${name} EXPORT TorchSegTargets
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()

# Compile definitions every test and benchmark gets: where the sources, the shared data and the scratch space are.
function(_torchseg_test_definitions target)
  target_compile_definitions(${target} PRIVATE
    TORCHSEG_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TORCHSEG_DATA_DIR="${PROJECT_SOURCE_DIR}/Data"
    TORCHSEG_BINARY_DIR="${PROJECT_BINARY_DIR}"
    TORCHSEG_BIN_DIR="${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
    TORCHSEG_TEST_OUTPUT_DIR="${TORCHSEG_TEST_OUTPUT_DIR}")
endfunction()

# torchseg_add_gtest(<target> SOURCES <src>... [LIBRARIES <lib>...] [TIMEOUT <s>] [LABEL <label>]): a GoogleTest
# executable of the current module, linked with its TEST_DEPENDS; its tests are discovered when ctest runs and carry
# one ctest label: LABEL (e.g. "display" for tests that need an X display), or else the module's name.
# (gtest_discover_tests cannot pass a list-valued property through its PRE_TEST script, hence one label.)
function(torchseg_add_gtest target)
  cmake_parse_arguments(_t "" "TIMEOUT;LABEL" "SOURCES;LIBRARIES;LABELS" ${ARGN})
  if(NOT _t_LABEL AND _t_LABELS)
    list(GET _t_LABELS 0 _t_LABEL)
  endif()
  if(NOT _t_LABEL)
    set(_t_LABEL ${itk-module})
  endif()
  if(NOT _t_TIMEOUT)
    set(_t_TIMEOUT 300)
  endif()
  _torchseg_link_items(_deps ${itk-module} ${${itk-module}_TEST_DEPENDS})
  add_executable(${target} ${_t_SOURCES})
  target_link_libraries(${target} PRIVATE ${_deps} ${_t_LIBRARIES} GTest::gtest_main TorchSegTestingSupport)
  _torchseg_test_definitions(${target})
  gtest_discover_tests(${target}
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 60
    WORKING_DIRECTORY ${TORCHSEG_TEST_OUTPUT_DIR}
    PROPERTIES TIMEOUT ${_t_TIMEOUT} LABELS ${_t_LABEL})
endfunction()

# torchseg_add_benchmark(<target> SOURCES <src>... [LIBRARIES <lib>...]): a Google Benchmark executable.
function(torchseg_add_benchmark target)
  if(NOT TORCHSEG_BUILD_BENCHMARKS)
    return()
  endif()
  cmake_parse_arguments(_b "" "" "SOURCES;LIBRARIES" ${ARGN})
  _torchseg_link_items(_deps ${itk-module} ${${itk-module}_TEST_DEPENDS})
  add_executable(${target} ${_b_SOURCES})
  target_link_libraries(${target} PRIVATE ${_deps} ${_b_LIBRARIES} benchmark::benchmark)
  _torchseg_test_definitions(${target})
endfunction()

# torchseg_add_application(<name> [TARGET <target>] SOURCES <src>... LIBRARIES <lib>...): a command-line application
# whose Slicer XML description (<name>.xml beside the sources) is compiled into the executable as its single source of
# truth. TARGET names the CMake target when it must differ from the executable's name (e.g. when a module's library
# already has that name); the executable is always <name>.
function(torchseg_add_application name)
  cmake_parse_arguments(_a "" "TARGET" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT _a_TARGET)
    set(_a_TARGET ${name})
  endif()
  set(_xml ${CMAKE_CURRENT_SOURCE_DIR}/${name}.xml)
  if(NOT EXISTS ${_xml})
    message(FATAL_ERROR "${name}: ${_xml} is missing")
  endif()
  set(_gen ${CMAKE_CURRENT_BINARY_DIR}/${name}XML.h)
  add_custom_command(OUTPUT ${_gen}
    COMMAND ${CMAKE_COMMAND} -DXML=${_xml} -DOUT=${_gen} -DSYMBOL=${name}XMLDescription
      -DVERSION=${PROJECT_VERSION} -P ${PROJECT_SOURCE_DIR}/CMake/TorchSegEmbedXML.cmake
    DEPENDS ${_xml} ${PROJECT_SOURCE_DIR}/CMake/TorchSegEmbedXML.cmake
    COMMENT "Embedding ${name}.xml")
  add_executable(${_a_TARGET} ${_a_SOURCES} ${_gen})
  set_target_properties(${_a_TARGET} PROPERTIES OUTPUT_NAME ${name})
  target_include_directories(${_a_TARGET} PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${_a_TARGET} PRIVATE TorchSegCommandLine ${_a_LIBRARIES})
  install(TARGETS ${_a_TARGET} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Applications)
  if(TORCHSEG_SLICER_CLI_MODULES_DIR)
    install(TARGETS ${_a_TARGET} RUNTIME DESTINATION ${TORCHSEG_SLICER_CLI_MODULES_DIR} COMPONENT Slicer)
  endif()
  set_property(GLOBAL APPEND PROPERTY TORCHSEG_APPLICATION_TARGETS ${_a_TARGET})
  set_property(GLOBAL APPEND PROPERTY TORCHSEG_APPLICATION_EXECUTABLES ${name})
endfunction()

# The CMake package another project finds with find_package(TorchSeg).
function(torchseg_install_package)
  set(_cmakedir ${CMAKE_INSTALL_LIBDIR}/cmake/TorchSeg)
  install(EXPORT TorchSegTargets NAMESPACE TorchSeg:: DESTINATION ${_cmakedir} COMPONENT Development)
  set(TORCHSEG_CONFIG_ITK_COMPONENTS ${TORCHSEG_ITK_COMPONENTS})
  set(TORCHSEG_CONFIG_MODULES ${TORCHSEG_MODULES})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/CMake/TorchSegConfig.cmake.in
    ${PROJECT_BINARY_DIR}/TorchSegConfig.cmake INSTALL_DESTINATION ${_cmakedir})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/TorchSegConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/TorchSegConfig.cmake ${PROJECT_BINARY_DIR}/TorchSegConfigVersion.cmake
    DESTINATION ${_cmakedir} COMPONENT Development)
endfunction()
