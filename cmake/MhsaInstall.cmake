# install() rules and the exported package, so that another project can do
#   find_package(mhsa CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE mhsa::mhsa)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MHSA_CONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mhsa)

install(TARGETS mhsa EXPORT mhsaTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# mhsa/mpi.h only with the component it declares.
if(TARGET mhsa_mpi)
  set(MHSA_HAS_MPI ON)
  install(TARGETS mhsa_mpi EXPORT mhsaTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mhsa
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
else()
  set(MHSA_HAS_MPI OFF)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mhsa
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} PATTERN mpi.h EXCLUDE)
endif()
if(TARGET mhsa_cli)
  install(TARGETS mhsa_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(EXPORT mhsaTargets NAMESPACE mhsa:: DESTINATION ${MHSA_CONFIG_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mhsaConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mhsaConfig.cmake INSTALL_DESTINATION ${MHSA_CONFIG_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mhsaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mhsaConfig.cmake
              ${PROJECT_BINARY_DIR}/mhsaConfigVersion.cmake
        DESTINATION ${MHSA_CONFIG_DIR})
